// The real node's kube-proxy (k8s.io/kubernetes cmd/kube-proxy, built like the kubelet) in
// iptables mode, in the node's network namespace (netns.ts): its rules, chains and
// sysctls are the node's, gone with the namespace. What it may not do here, and why:
//  - conntrack: maxPerCore 0 (and min 0) leaves nf_conntrack_max as it is: that table size
//    is the machine's, writable only from the host's namespace; the TCP/UDP timeouts 0
//    (leave as they are) and tcpBeLiberal false likewise touch nothing shared.
//  - oomScoreAdj 0: root here lacks CAP_SYS_RESOURCE, so the default -999 cannot be set.
//  - iptables.localhostNodePorts false: it would set route_localnet; no NodePort is used.
//  - healthz and metrics on the node's address, default ports (its namespace is its own).
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { waitFor, type ManagedProcess } from '../process.js';
import { toolPath } from '../tools.js';
import type { NodeNetwork } from './netns.js';

export async function startKubeProxy(options: {
  dir: string;
  nodeName: string;
  kubeconfigPath: string;
  network: NodeNetwork;
  /** Starts a process in the node (node-namespaces.ts). */
  spawn: (command: string, args: string[], logFile: string) => ManagedProcess;
}): Promise<ManagedProcess> {
  const { dir, network } = options;
  mkdirSync(dir, { recursive: true });
  const config = path.join(dir, 'kube-proxy-config.yaml');
  const healthz = `${network.nodeIp}:10256`;
  writeFileSync(
    config,
    JSON.stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
      clientConnection: { kubeconfig: options.kubeconfigPath },
      hostnameOverride: options.nodeName,
      bindAddress: network.nodeIp,
      healthzBindAddress: healthz,
      metricsBindAddress: `${network.nodeIp}:10249`,
      // Traffic from outside the Pod network to a ClusterIP (the host's) is masqueraded,
      // so a Pod's answer comes back through the node, where the DNAT is undone.
      clusterCIDR: network.podSubnet,
      detectLocalMode: 'ClusterCIDR',
      oomScoreAdj: 0,
      conntrack: {
        maxPerCore: 0,
        min: 0,
        tcpEstablishedTimeout: '0s',
        tcpCloseWaitTimeout: '0s',
        tcpBeLiberal: false,
        udpTimeout: '0s',
        udpStreamTimeout: '0s',
      },
      // A Service's rules follow its EndpointSlices at once (the default 1 s batches them).
      iptables: { localhostNodePorts: false, minSyncPeriod: '0s', syncPeriod: '30s' },
    }),
  );
  const proc = options.spawn(
    toolPath('kube-proxy'),
    [`--config=${config}`, '--v=2'],
    path.join(dir, 'kube-proxy.log'),
  );
  // /healthz answers 200 once the first full sync of its rules is done.
  await waitFor(
    'kube-proxy to sync its rules',
    async () => {
      if (proc.hasExited()) throw new Error(`kube-proxy exited ${proc.child.exitCode}\n${proc.tail()}`);
      return (await status(`http://${healthz}/healthz`)) === 200;
    },
    60_000,
    () => proc.tail(),
  ).catch(async (err: unknown) => {
    await proc.stop();
    throw err;
  });
  return proc;
}

function status(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}
