// A real node for the bed, in a network namespace of its own (netns.ts, made by the caller
// before the control plane, which listens on the node's link): containerd with the bed's
// images imported and a Pod network (cni.ts), the real kubelet registered as Node
// `nodeName` with the bed's API server, kube-proxy (kube-proxy.ts) and CoreDNS as a Pod
// with the Service kube-dns (coredns.ts). With `ownNamespaces` the node also has a PID
// and mount namespace of its own (node-namespaces.ts, which starts all of its processes).
// Once the Node is Ready its not-ready taint is lifted here, as kube-controller-manager's
// node lifecycle controller would: the bed does not run that controller (it would evict
// the Pods of the kubelet stand-in's Node, which keeps no Lease).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { imageRef, imageTarball, type ImageName } from '../container-images.js';
import { waitFor, type ManagedProcess } from '../process.js';
import { writePodNetwork } from './cni.js';
import { startContainerd, type Containerd } from './containerd.js';
import { startCoreDns, type ClusterDns } from './coredns.js';
import { startKubeProxy } from './kube-proxy.js';
import { startKubelet } from './kubelet.js';
import type { NodeNetwork } from './netns.js';
import { startNodeNamespaces } from './node-namespaces.js';

export interface RealNode {
  nodeName: string;
  containerd: Containerd;
  kubelet: ManagedProcess;
  kubeProxy: ManagedProcess;
  /** kube-dns: CoreDNS's Service and Pod. */
  dns: ClusterDns;
  /** The node's namespace, addresses, Pod network and Service range (all routed from the host). */
  network: NodeNetwork;
  /** Resolves once the `laterImages` are imported (rejects if one failed). */
  imported(): Promise<void>;
  /** The node's folder: everything mounted under it goes with stop(). */
  dir: string;
  /** The kubelet's --root-dir (a node's /var/lib/kubelet: pods/, device-plugins/). */
  kubeletRoot: string;
  /** Where the kubelet writes containers' logs (NS_POD_UID/CONTAINER/N.log). */
  podLogsDir: string;
  /** Runs a command in the node: its network, and its mounts (its own mount namespace, if it has one). */
  exec(command: string, args: string[]): Promise<string>;
  /** The name a Pod's `image` gives for a bed image (as containerd imported it). */
  image(name: ImageName): string;
  stop(): Promise<void>;
}

/** What containerd calls an image saved as `serverimage-testbed/NAME:KEY`. */
const runtimeName = (name: ImageName) => `docker.io/${imageRef(name)}`;

export async function startRealNode(options: {
  nodeName: string;
  /** The API server's address must be one the node reaches (the host's end of its link). */
  kubeconfigPath: string;
  images: ImageName[];
  /**
   * Images imported while the rest starts (`imported()` waits for them): a large one (the
   * operator's, 350 MB, 10-15 s here) need not hold up the node.
   */
  laterImages?: ImageName[];
  network: NodeNetwork;
  /** A PID and mount namespace of the node's own (node-namespaces.ts), as virt-handler needs. */
  ownNamespaces?: boolean;
  /** The Node advertises ephemeral-storage (kubelet.ts), as virt-launcher Pods need. */
  ephemeralStorage?: boolean;
}): Promise<RealNode> {
  const { network } = options;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-node-'));
  // Every process of the node starts through this, in the node's namespaces.
  const namespaces = await startNodeNamespaces(network, {
    own: options.ownNamespaces ?? false,
    logFile: path.join(dir, 'init.log'),
  }).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const { start: spawn, exec } = namespaces;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(options.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  writePodNetwork(path.join(dir, 'containerd/cni'), network.podSubnet);
  const containerd = await startContainerd(path.join(dir, 'containerd'), runtimeName('pause'), spawn).catch(
    async (err: unknown) => {
      await namespaces.stop();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    },
  );
  let kubelet: ManagedProcess | undefined;
  let kubeProxy: ManagedProcess | undefined;
  let dns: ClusterDns;
  let later: Promise<void> = Promise.resolve();
  const stop = async () => {
    await later.catch(() => undefined);
    await kubeProxy?.stop();
    await kubelet?.stop();
    // Its Node goes too, as when a node leaves a cluster: the control plane may serve other tests.
    await core.deleteNode({ name: options.nodeName }).catch(() => undefined);
    await containerd.stop();
    // The kubelet's Secret volumes (tmpfs), its root dir (bind-mounted onto itself) and
    // containerd's sandbox mounts: deepest first.
    await exec('sh', [
      '-c',
      `grep -o ' ${dir}/[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l`,
    ]).catch(() => undefined);
    await namespaces.stop();
    if (!process.env.SERVERIMAGE_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const name of new Set<ImageName>(['pause', 'coredns', ...options.images]))
      await containerd.importImage(imageTarball(name));
    // The tarballs' paths first (a missing image is built here, synchronously), then in the background.
    const tarballs = (options.laterImages ?? []).map(imageTarball);
    later = tarballs.reduce(
      (chain, file) => chain.then(() => containerd.importImage(file)),
      Promise.resolve(),
    );
    later.catch(() => undefined); // awaited by imported() and stop()
    if (options.ownNamespaces) {
      // The kubelet serves device plugins at the fixed /var/lib/kubelet/device-plugins/
      // whatever its --root-dir (and every kubelet on the host would share that folder): in
      // the node's mount namespace it is the node's own root dir, as on a machine.
      mkdirSync(path.join(dir, 'kubelet', 'root'), { recursive: true });
      mkdirSync('/var/lib/kubelet', { recursive: true });
      await exec('mount', ['--bind', path.join(dir, 'kubelet', 'root'), '/var/lib/kubelet']);
    }
    kubelet = startKubelet({
      dir: path.join(dir, 'kubelet'),
      nodeName: options.nodeName,
      kubeconfigPath: options.kubeconfigPath,
      runtimeEndpoint: containerd.endpoint,
      nodeIp: network.nodeIp,
      clusterDns: network.dnsIp,
      ephemeralStorage: options.ephemeralStorage,
      spawn,
    });
    const k = kubelet;
    await waitFor(
      `Node ${options.nodeName} registered by the kubelet`,
      async () => {
        if (k.child.exitCode !== null) throw new Error(`kubelet exited ${k.child.exitCode}`);
        return core.readNode({ name: options.nodeName }).then(
          () => true,
          () => false,
        );
      },
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nkubelet log:\n${k.tail(40)}`);
    });
    await liftNotReadyTaint(core, options.nodeName, k);
    kubeProxy = await startKubeProxy({
      dir: path.join(dir, 'kube-proxy'),
      nodeName: options.nodeName,
      kubeconfigPath: options.kubeconfigPath,
      network,
      spawn,
    });
    dns = await startCoreDns({
      kc,
      nodeName: options.nodeName,
      image: runtimeName('coredns'),
      dnsIp: network.dnsIp,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    nodeName: options.nodeName,
    containerd,
    kubelet,
    kubeProxy,
    dns,
    network,
    image: runtimeName,
    imported: () => later,
    dir,
    kubeletRoot: path.join(dir, 'kubelet', 'root'),
    podLogsDir: path.join(dir, 'kubelet', 'pod-logs'),
    exec,
    stop,
  };
}

const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';

/** Waits for the Node's Ready (the CNI config loaded) and removes the API server's not-ready taint. */
async function liftNotReadyTaint(core: k8s.CoreV1Api, name: string, kubelet: ManagedProcess) {
  let last: k8s.V1Node | undefined;
  await waitFor(
    `Node ${name} Ready`,
    async () => {
      last = await core.readNode({ name });
      return !!last.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    },
    60_000,
  ).catch((err: Error) => {
    const ready = last?.status?.conditions?.find((c) => c.type === 'Ready');
    throw new Error(
      `${err.message} (${ready?.reason}: ${ready?.message})\nkubelet log:\n${kubelet.tail(20)}`,
    );
  });
  const node = await core.readNode({ name });
  const taints = (node.spec?.taints ?? []).filter((t) => t.key !== NOT_READY_TAINT);
  if (taints.length === (node.spec?.taints ?? []).length) return;
  await core.patchNode(
    { name, body: { spec: { taints } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}
