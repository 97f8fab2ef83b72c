// The bed node's real kubelet (k8s.io/kubernetes cmd/kubelet, built like the API server),
// on containerd's CRI (containerd.ts), registered with the bed's API server as its Node.
// Settings this machine needs: cgroup v1 through cgroupfs, swap on, no QoS cgroups and no
// node-allocatable enforcement (root here may not change every cgroup knob), no iptables
// chains (kube-proxy makes the node's own, kube-proxy.ts). Pods get their network from
// containerd's CNI config (cni.ts) and their DNS from CoreDNS (coredns.ts). It runs in the
// node's network namespace (netns.ts) and serves on the node's address, where the API
// server reaches it (logs, exec).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ManagedProcess } from '../process.js';
import { toolPath } from '../tools.js';

export interface KubeletOptions {
  dir: string;
  nodeName: string;
  /** Whom the kubelet talks to the API server as (the bed's admin). */
  kubeconfigPath: string;
  runtimeEndpoint: string;
  /** The node's address: its InternalIP and where the kubelet serves. */
  nodeIp: string;
  /** kube-dns's ClusterIP: Pods' nameserver (dnsPolicy ClusterFirst). */
  clusterDns: string;
  /**
   * Whether the Node advertises ephemeral-storage (the kubelet's local storage capacity
   * isolation): virt-launcher Pods request some for their containerDisks. Off by default.
   */
  ephemeralStorage?: boolean;
  /** Starts a process in the node (node-namespaces.ts). */
  spawn: (command: string, args: string[], logFile: string) => ManagedProcess;
}

export function startKubelet(options: KubeletOptions): ManagedProcess {
  const { dir } = options;
  mkdirSync(path.join(dir, 'root'), { recursive: true });
  const config = path.join(dir, 'kubelet-config.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      failSwapOn: false,
      cgroupsPerQOS: false,
      enforceNodeAllocatable: [],
      makeIPTablesUtilChains: false,
      localStorageCapacityIsolation: options.ephemeralStorage ?? false,
      containerRuntimeEndpoint: options.runtimeEndpoint,
      address: options.nodeIp,
      // The node's namespace is its own: a cluster node's default ports.
      port: 10250,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: 10248,
      authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
      authorization: { mode: 'AlwaysAllow' },
      // The disk of a shared test machine may be fuller than the defaults allow.
      evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      // The bed's tests want a Pod's state seen within a second.
      nodeStatusUpdateFrequency: '10s',
      syncFrequency: '5s',
      fileCheckFrequency: '5s',
      // The node's own resolver: the upstream of dnsPolicy Default Pods (CoreDNS's own).
      resolvConf: '/etc/resolv.conf',
      clusterDNS: [options.clusterDns],
      clusterDomain: 'cluster.local',
      // Containers' logs with the rest of the node, not in the host's /var/log/pods.
      podLogsDir: path.join(dir, 'pod-logs'),
    }),
  );
  return options.spawn(
    toolPath('kubelet'),
    [
      `--config=${config}`,
      `--kubeconfig=${options.kubeconfigPath}`,
      `--root-dir=${path.join(dir, 'root')}`,
      `--cert-dir=${path.join(dir, 'pki')}`,
      `--hostname-override=${options.nodeName}`,
      `--node-ip=${options.nodeIp}`,
      '--v=2',
    ],
    path.join(dir, 'kubelet.log'),
  );
}
