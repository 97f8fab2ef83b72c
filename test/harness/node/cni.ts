// The real node's Pod network: a CNI config of Debian's containernetworking-plugins (bridge,
// host-local IPAM, loopback; tools/container-engine.sh installs them) in containerd's own
// CNI folders. Each node gets a bridge and a /24 of its own (several beds may run on one
// machine). The bridge holds the subnet's gateway address on the host, so the host, where
// the operator and the bed's Service routing run, reaches Pod IPs directly. No NAT and no
// port mapping: iptables is not used here (ipMasq off, no portmap).
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Where Debian's containernetworking-plugins puts its binaries. */
export const CNI_PLUGIN_DIR = '/usr/lib/cni';
const PLUGINS = ['bridge', 'host-local', 'loopback'];

export interface PodNetwork {
  bridge: string;
  /** e.g. 10.88.17.0/24 */
  subnet: string;
  /** The subnet's first address, on the bridge: where a Pod reaches the host. */
  gateway: string;
  /** Removes the bridge (its Pods' veths go with their sandboxes). */
  remove(): Promise<void>;
}

/** A 10.x.y.0/24 that no route of the host covers yet (the bed's own or another's). */
async function freeSubnet(): Promise<string> {
  const { stdout } = await execFileAsync('ip', ['-4', 'route', 'show']);
  for (let i = 0; i < 50; i++) {
    const subnet = `10.${randomInt(100, 250)}.${randomInt(1, 250)}.0/24`;
    if (!stdout.includes(subnet.replace(/\.0\/24$/, '.'))) return subnet;
  }
  throw new Error('no free 10.x.y.0/24 for the Pod network');
}

/**
 * Writes the CNI config and links the plugins into `cniDir` (`net.d`, `bin`: the folders
 * containerd.ts gives containerd's CRI plugin), before containerd starts.
 */
export async function writePodNetwork(cniDir: string): Promise<PodNetwork> {
  const missing = PLUGINS.filter((p) => !existsSync(path.join(CNI_PLUGIN_DIR, p)));
  if (missing.length > 0)
    throw new Error(
      `CNI plugins ${missing.join(', ')} not found in ${CNI_PLUGIN_DIR}: \`npm run testbed:images\` installs Debian's containernetworking-plugins`,
    );
  const bin = path.join(cniDir, 'bin');
  const confDir = path.join(cniDir, 'net.d');
  mkdirSync(bin, { recursive: true });
  mkdirSync(confDir, { recursive: true });
  for (const p of PLUGINS) {
    if (!existsSync(path.join(bin, p))) symlinkSync(path.join(CNI_PLUGIN_DIR, p), path.join(bin, p));
  }
  // Linux allows 15 characters for an interface name.
  const bridge = `sio${randomBytes(4).toString('hex')}`;
  const subnet = await freeSubnet();
  const conflist = {
    cniVersion: '0.4.0',
    name: 'serverimage-bed',
    plugins: [
      {
        type: 'bridge',
        bridge,
        // The gateway address on the bridge: the host's way into the Pod network.
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet }]],
          routes: [{ dst: '0.0.0.0/0' }],
          // Leases with the node, not in the host's /var/lib/cni.
          dataDir: path.join(cniDir, 'ipam'),
        },
      },
      { type: 'loopback' },
    ],
  };
  writeFileSync(path.join(confDir, '10-serverimage-bed.conflist'), JSON.stringify(conflist, null, 2));
  return {
    bridge,
    subnet,
    gateway: subnet.replace(/0\/24$/, '1'),
    async remove() {
      await execFileAsync('ip', ['link', 'del', bridge]).catch(() => undefined);
    },
  };
}
