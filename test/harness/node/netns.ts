// The real node's own network: a network namespace that plays the node's machine, joined
// to the host by a veth pair. containerd (and through it the CNI plugins), the kubelet and
// kube-proxy run in it (node-namespaces.ts: `nsenter --net`; with real VMs also a PID and
// mount namespace of the node's own), so kube-proxy's iptables rules, the Pod bridge and
// the sysctls it sets are the node's alone. iptables is one table set per namespace: two
// kube-proxies in the host's would rewrite each other's KUBE-SERVICES chain whatever their
// Service ranges, and several beds run on this machine at once. Deleting the namespace deletes all of it.
//
// Each node takes a 10.X.0.0/16 that no route of the host covers (claimed atomically by
// the namespace's name, which holds X):
//   10.X.0.1/30 the host's end of the link (the bed's API server listens there, so that
//               the node and its Pods reach it), 10.X.0.2/30 the node's (its InternalIP);
//   10.X.1.0/24 the Pod network (cni.ts);
//   10.X.2.0/24 the cluster's Service range (the API server's --service-cluster-ip-range):
//               10.X.2.1 the `kubernetes` Service, 10.X.2.10 kube-dns.
// The host routes the Pod network and the Service range to the node, as a cluster's
// network routes Pod and Service traffic to its nodes: the host side of the tests (the
// in-process operator, the bed's Service routing) reaches ClusterIPs through the node's
// kube-proxy.
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const PREFIX = 'serverimage-node-';

export interface NodeNetwork {
  /** The namespace's name (`ip netns`). */
  name: string;
  /** Its file, for `nsenter --net=`. */
  path: string;
  /** The host's address on the link: where the node reaches the bed's API server. */
  hostIp: string;
  /** The node's address (its InternalIP, the kubelet's and kube-proxy's bind address). */
  nodeIp: string;
  /** e.g. 10.123.1.0/24 */
  podSubnet: string;
  /** e.g. 10.123.2.0/24 */
  serviceCidr: string;
  /** The `kubernetes` Service's ClusterIP (the range's first address). */
  apiServiceIp: string;
  /** kube-dns's ClusterIP. */
  dnsIp: string;
  /** Removes the namespace (and with it the link, the routes, every iptables rule in it). */
  remove(): Promise<void>;
}

const ip = (...args: string[]) => execFileAsync('ip', args);

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function netnsNames(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return []; // none made yet on this machine
  }
}

/** Namespaces of nodes whose test process died without removing them (their host routes go with them). */
async function removeAbandoned(): Promise<void> {
  for (const name of netnsNames()) {
    const m = new RegExp(`^${PREFIX}(\\d+)-(\\d+)$`).exec(name);
    if (m && !pidAlive(+m[1]!)) await ip('netns', 'del', name).catch(() => undefined);
  }
}

export async function createNodeNetwork(): Promise<NodeNetwork> {
  await removeAbandoned();
  const { stdout: routes } = await ip('-4', 'route', 'show');
  const taken = new Set(routes.split('\n').map((l) => /^10\.(\d+)\./.exec(l)?.[1]));
  for (let attempt = 0; attempt < 40; attempt++) {
    const x = randomInt(100, 250);
    if (taken.has(String(x))) continue;
    // The name claims X: `ip netns add` fails if another bed has it.
    const name = `${PREFIX}${process.pid}-${x}`;
    if (netnsNames().some((n) => n.startsWith(PREFIX) && n.endsWith(`-${x}`))) continue;
    if (
      !(await ip('netns', 'add', name).then(
        () => true,
        () => false,
      ))
    )
      continue;
    const network = networkOf(name, x);
    try {
      await wire(network, x);
    } catch (err) {
      await network.remove();
      throw err;
    }
    return network;
  }
  throw new Error('no free 10.X.0.0/16 for the real node');
}

/** The host's end of the node's link (15 characters at most, as Linux allows). */
const hostEndOf = (x: number) => `sio${x}h${process.pid % 100000}`.slice(0, 15);

function networkOf(name: string, x: number): NodeNetwork {
  const path = `/run/netns/${name}`;
  return {
    name,
    path,
    hostIp: `10.${x}.0.1`,
    nodeIp: `10.${x}.0.2`,
    podSubnet: `10.${x}.1.0/24`,
    serviceCidr: `10.${x}.2.0/24`,
    apiServiceIp: `10.${x}.2.1`,
    dnsIp: `10.${x}.2.10`,
    async remove() {
      // The kernel frees a namespace (and with it the link) some time after its last
      // process: the link is deleted now, both ends and the host's routes through it.
      await ip('link', 'del', hostEndOf(x)).catch(() => undefined);
      await ip('netns', 'del', name).catch(() => undefined);
    },
  };
}

async function wire(n: NodeNetwork, x: number): Promise<void> {
  const hostEnd = hostEndOf(x);
  const inNs = (...args: string[]) => execFileAsync('ip', ['-n', n.name, ...args]);
  await ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.name);
  await ip('addr', 'add', `${n.hostIp}/30`, 'dev', hostEnd);
  await ip('link', 'set', hostEnd, 'up');
  await inNs('link', 'set', 'lo', 'up');
  await inNs('addr', 'add', `${n.nodeIp}/30`, 'dev', 'eth0');
  await inNs('link', 'set', 'eth0', 'up');
  await inNs('route', 'add', 'default', 'via', n.hostIp);
  // The node forwards between its link and its Pod bridge (a new namespace starts with 0).
  await execFileAsync('nsenter', [
    `--net=${n.path}`,
    '--',
    'sh',
    '-c',
    'echo 1 >/proc/sys/net/ipv4/ip_forward',
  ]);
  // A ClusterIP that kube-proxy has no DNAT for yet (or for a moment while it rewrites its
  // rules) would follow the node's default route back to the host, which routes it to the
  // node again, until its TTL runs out; and the SYN's conntrack entry, made without NAT,
  // would keep every retransmission on that loop after the rules arrive (a connection
  // that hangs). Refused at once instead: forwarded, not locally sent, so the node's own
  // processes still reach ClusterIPs through kube-proxy's OUTPUT rules.
  await execFileAsync('nsenter', [
    `--net=${n.path}`,
    '--',
    'iptables',
    '-w',
    '-A',
    'FORWARD',
    '-d',
    n.serviceCidr,
    '-o',
    'eth0',
    '-m',
    'comment',
    '--comment',
    'serverimage bed: a ClusterIP without DNAT goes nowhere',
    '-j',
    'REJECT',
    '--reject-with',
    'icmp-net-unreachable',
  ]);
  await ip('route', 'add', n.podSubnet, 'via', n.nodeIp);
  await ip('route', 'add', n.serviceCidr, 'via', n.nodeIp);
}
