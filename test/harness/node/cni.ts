// The real node's Pod network: a CNI config of Debian's containernetworking-plugins (bridge,
// host-local IPAM, loopback; tools/container-engine.sh installs them) in containerd's own
// CNI folders. containerd runs in the node's network namespace (netns.ts), so the plugins
// make the bridge there; its gateway address is the node's way to its Pods, and the host
// routes the Pod network through the node. No NAT and no port mapping (ipMasq off, no
// portmap): Pods talk to the host's addresses (the API server, the registry) directly,
// and the host routes back to them.
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where Debian's containernetworking-plugins puts its binaries. */
export const CNI_PLUGIN_DIR = '/usr/lib/cni';
const PLUGINS = ['bridge', 'host-local', 'loopback'];
/** The bridge's name inside the node's namespace (one per namespace, so no clash). */
export const POD_BRIDGE = 'cni0';

/**
 * Writes the CNI config and links the plugins into `cniDir` (`net.d`, `bin`: the folders
 * containerd.ts gives containerd's CRI plugin), before containerd starts.
 */
export function writePodNetwork(cniDir: string, subnet: string): void {
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
  const conflist = {
    cniVersion: '0.4.0',
    name: 'serverimage-bed',
    plugins: [
      {
        type: 'bridge',
        bridge: POD_BRIDGE,
        // The gateway address on the bridge: the node's route into its Pod network.
        isGateway: true,
        ipMasq: false,
        // A Pod reaching itself through a Service (kube-proxy's DNAT back onto its own port).
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
}
