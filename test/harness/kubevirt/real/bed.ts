// The KubeVirt bed: KubeVirt's own virt-controller makes the VMIs, snapshots and exports;
// the simulator keeps only what needs a node. A control plane of its own (each test file
// gets a fresh virt-controller, and tests that count API writes read their own audit log),
// whose kubeconfig this test file's process then uses
// (SERVERIMAGE_TESTBED_KUBECONFIG: kubeConfig(), kubectl and createNamespace follow).
//   const sim = await startRealKubevirt();
//   ... sim.exportCaPem, sim.diskFile(ns, pvc) ...
//   await sim.stop();
// Started here: etcd + kube-apiserver, every KubeVirt/CDI CRD, StorageClass and
// VolumeSnapshotClass `sim`, virt-controller, external-snapshotter's snapshot-controller,
// kube-scheduler, kube-controller-manager (garbage collector, PV controller, PV/PVC
// protection), the kubelet stand-in (Node,
// exporter Pods as real virt-exportserver processes), Service routing + cluster DNS for
// this process and, through a hosts file (SERVERIMAGE_TESTBED_HOSTS, cluster-dns.ts), for
// the processes it starts, the node simulator (../node-simulator.ts: PVC bytes, the CSI
// provisioner and snapshotter, CDI's DataVolumes), the virt-handler stand-in and virt-api's
// freeze API.
// `node: 'real'` adds a real node (../../node/: a network namespace of its own, the real
// kubelet on containerd, a CNI Pod network, kube-proxy, CoreDNS) beside the stand-in's: the
// control plane then listens on the node's link with the node's Service range,
// virt-controller's exporter Pods run there as containers of the exporter image built
// here, their restore PVCs as local PVs on it (real/csi-volumes.ts), their Services
// reached through the node's CoreDNS and kube-proxy, and by the node's Pods through the
// Service's fault proxy too (service-routing.ts); fault-export=never-ready and export-ready
// act on those Pods through the node (exporter-pods.ts). virt-launcher Pods stay on the
// stand-in's Node (KubeVirt's label and devices). `vms: true` adds real VMs on the real
// node: the real virt-handler as a Pod there and KubeVirt's launcher built here, under
// emulation (see RealKubevirtOptions.vms), and the real CSI hostpath driver there with the
// real external-provisioner and csi-snapshotter (csi-hostpath.ts): a VM's disk is a claim of
// its StorageClass, which the simulator leaves alone.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { ImageName } from '../../container-images.js';
import { startControlPlane } from '../../control-plane.js';
import { POD_BRIDGE } from '../../node/cni.js';
import { createNodeNetwork, type NodeNetwork } from '../../node/netns.js';
import { startRealNode, type RealNode } from '../../node/real-node.js';
import { waitFor } from '../../process.js';
import type { Obj } from '../api.js';
import { Ann, faultValue } from '../annotations.js';
import { Client, VM, VM_EXPORT } from '../api.js';
import { installKubevirtCrds } from '../crds/install.js';
import { startNodeSimulator, type NodeSimulator, type NodeSimulatorOptions } from '../node-simulator.js';
import { startCdiController, type CdiController } from './cdi-controller.js';
import { HOSTPATH_STORAGE_CLASS, startHostpathCsi, type HostpathCsi } from './csi-hostpath.js';
import { startKubeControllerManager } from './kube-controller-manager.js';
import { startKubeScheduler } from './kube-scheduler.js';
import { HostsFile } from './cluster-dns.js';
import { startSnapshotController } from './snapshot-controller.js';
import { Kubelet, NODE_NAME } from './kubelet.js';
import { RealExporterPods } from './exporter-pods.js';
import { ServiceRouting } from './service-routing.js';
import { startSubresourcesApi, type FreezeCall, type SubresourcesApi } from './subresources-api.js';
import { startRealVirtApi, type RealVirtApi } from './virt-api.js';
import { KUBEVIRT_NAMESPACE, startVirtController } from './virt-controller.js';
import { VirtHandler } from './virt-handler.js';
import { startRealVirtHandler, type RealVirtHandler } from './virt-handler-pod.js';
import { VmChanges } from './vm-changes.js';
import { startWatching } from './watch.js';

export const STORAGE_CLASS = 'sim';
/** The real node's name, for the operators a test file starts (their transfer Pods go there). */
export const REAL_NODE_ENV = 'SERVERIMAGE_TESTBED_REAL_NODE';
export const CSI_DRIVER = 'sim.csi.serverimage.io';

export interface RealKubevirt extends NodeSimulator {
  /** The CA of every exporter's certificate (what links.internal.cert carries). */
  exportCaPem: string;
  /** The exporter Pods' virt-exportserver processes running now. */
  exportServers(): Array<{ namespace: string; name: string; pid: number; url: string }>;
  kubeconfigPath: string;
  /** Where every process's log is (virt-controller.log, kube-scheduler.log, pods/NS/NAME/...). */
  dir: string;
  /** Every freeze/unfreeze virt-controller asked for through subresources.kubevirt.io, in order. */
  freezeCalls: FreezeCall[];
  /** The cluster DNS of child processes: give it to withClusterDns() (cluster-dns.ts). */
  hostsFile: string;
  /** The real node (`node: 'real'`), where exporter Pods run as containers. */
  realNode?: RealNode;
  /** The real virt-handler Pod on the real node (`vms: true`). */
  virtHandler?: RealVirtHandler;
  /** The real virt-api on the real node (`vms: true`; the other beds simulate its subresources). */
  virtApi?: RealVirtApi;
  /** CDI's real controller (`cdi: 'real'`): its importer Pods run on the real node. */
  cdi?: CdiController;
  /**
   * The real CSI hostpath driver and its sidecars on the real node (`vms: true`): StorageClass
   * `csi-hostpath-sc` (csi-hostpath.ts), for a real VM's disk.
   */
  csi?: HostpathCsi;
  /**
   * Runs `fn` with virt-controller stopped (SIGSTOP, then SIGCONT): a VM made meanwhile has no
   * status yet, as one just created has on a busy cluster. Keep `fn` short (its lease lasts 15 s).
   */
  withVirtControllerPaused<T>(fn: () => Promise<T>): Promise<T>;
}

export type RealKubevirtOptions = Omit<
  NodeSimulatorOptions,
  'kubeConfig' | 'csiDriver' | 'vmChanges' | 'localVolumes'
> & {
  /** 'real': exporter Pods on a real kubelet (see above); default the stand-in only. */
  node?: 'stand-in' | 'real';
  /**
   * More images for the real node's containerd (the exporter's is always there), e.g.
   * 'operator': imported while the bed starts, `sim.realNode.imported()` waits for them.
   */
  nodeImages?: ImageName[];
  /**
   * With `node: 'real'`: real VMs there. The real virt-handler runs as a Pod on the node
   * (virt-handler-pod.ts), virt-controller's launcher image is KubeVirt's launcher built
   * here, and the KubeVirt CR says useEmulation (QEMU's TCG: KVM does not run guests on
   * this machine). A VMI whose nodeSelector names the real node runs there in real QEMU.
   */
  vms?: boolean;
  // cdi: 'real' (with vms): CDI's real controller (cdi-controller.ts) instead of the
  // DataVolume stand-in; its importer Pods run CDI's importer image on the real node.
};

const quietLog = (message: string, err?: unknown) => {
  if (process.env.SERVERIMAGE_SIM_LOG) process.stderr.write(`[real-kubevirt] ${message} ${err ?? ''}\n`);
};

/** The default StorageClass (the API server fills it into new PVCs) and its snapshot class. */
async function installStorage(kc: k8s.KubeConfig): Promise<void> {
  await kc.makeApiClient(k8s.StorageV1Api).createStorageClass({
    body: {
      metadata: {
        name: STORAGE_CLASS,
        annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
      },
      provisioner: CSI_DRIVER,
      volumeBindingMode: 'Immediate',
    },
  });
  await kc.makeApiClient(k8s.CustomObjectsApi).createClusterCustomObject({
    group: 'snapshot.storage.k8s.io',
    version: 'v1',
    plural: 'volumesnapshotclasses',
    body: {
      apiVersion: 'snapshot.storage.k8s.io/v1',
      kind: 'VolumeSnapshotClass',
      metadata: {
        name: STORAGE_CLASS,
        annotations: { 'snapshot.storage.kubernetes.io/is-default-class': 'true' },
      },
      driver: CSI_DRIVER,
      deletionPolicy: 'Delete',
    },
  });
}

export async function startRealKubevirt(options: RealKubevirtOptions = {}): Promise<RealKubevirt> {
  const { node, nodeImages, vms, ...simOptions } = options;
  if (vms && node !== 'real') throw new Error("real VMs need the real node: { node: 'real', vms: true }");
  // CDI's importer Pods fill claims of the real CSI driver of `vms`, on the real node.
  const realCdi = options.cdi === 'real';
  if (realCdi && !vms)
    throw new Error("the real CDI needs real VMs: { node: 'real', vms: true, cdi: 'real' }");
  const log = options.log ?? quietLog;
  // The real node's network first: the API server listens on its link, with its Service range.
  const network: NodeNetwork | undefined = node === 'real' ? await createNodeNetwork() : undefined;
  const controlPlane = await startControlPlane(
    network && { address: network.hostIp, serviceCidr: network.serviceCidr, serviceAccounts: true },
  ).catch(async (err: unknown) => {
    await network?.remove();
    throw err;
  });
  const previousKubeconfig = process.env.SERVERIMAGE_TESTBED_KUBECONFIG;
  const previousAuditLog = process.env.SERVERIMAGE_TESTBED_AUDIT_LOG;
  process.env.SERVERIMAGE_TESTBED_KUBECONFIG = controlPlane.kubeconfigPath;
  // Counting tests read the writes of this control plane, not of the shared one.
  process.env.SERVERIMAGE_TESTBED_AUDIT_LOG = controlPlane.auditLogPath;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'real-kubevirt-'));
  // startOperatorProcess (../../operator.ts) runs the operator with it, as kubeconfigPath().
  const hosts = new HostsFile(path.join(dir, 'cluster-dns'));
  process.env.SERVERIMAGE_TESTBED_HOSTS = hosts.path;
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err) => log('stop', err));
    stops.length = 0;
    await controlPlane.stop();
    await network?.remove();
    if (previousKubeconfig) process.env.SERVERIMAGE_TESTBED_KUBECONFIG = previousKubeconfig;
    delete process.env.SERVERIMAGE_TESTBED_HOSTS;
    delete process.env[REAL_NODE_ENV];
    if (previousAuditLog) process.env.SERVERIMAGE_TESTBED_AUDIT_LOG = previousAuditLog;
    // SERVERIMAGE_KEEP_LOGS=1 keeps the logs of every process (virt-controller, scheduler, pods).
    if (!process.env.SERVERIMAGE_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await installKubevirtCrds(kc, { all: true });
    await installStorage(kc);
    const client = new Client(kc);
    // fault-vm-change: one bookkeeping of "once" for every moment (vm-changes.ts).
    const vmChanges = new VmChanges(client, log);
    const faults = await faultCaches(kc);
    stops.push(() => faults.stop());
    let realNode: RealNode | undefined;
    if (network) {
      realNode = await startRealNode({
        nodeName: `real-node-${randomBytes(3).toString('hex')}`,
        kubeconfigPath: controlPlane.kubeconfigPath,
        images: [
          'exporter',
          ...(vms
            ? (['virt-launcher', 'virt-handler', 'vm-guest', 'virt-api', 'csi-hostpath'] as const)
            : []),
          ...(realCdi ? (['cdi-importer'] as const) : []),
        ],
        // The operator's (350 MB) need not hold up the bed: `realNode.imported()` waits for it.
        laterImages: nodeImages,
        network,
        // virt-handler enters the node through /proc/1 (node-namespaces.ts).
        ownNamespaces: vms,
        ephemeralStorage: vms,
      });
      const started = realNode;
      stops.push(() => started.stop());
      // Operators this test file starts (../../operator.ts) put their transfer Pods there.
      process.env[REAL_NODE_ENV] = realNode.nodeName;
    }
    const sim = await startNodeSimulator({
      ...simOptions,
      kubeConfig: kc,
      csiDriver: CSI_DRIVER,
      // The claims of the real driver's class (real VMs) are the real driver's alone; any
      // other class (the bed's `sim`, a test's own of the stand-in's driver) is the stand-in's.
      foreignStorageClass: HOSTPATH_STORAGE_CLASS,
      log,
      vmChanges,
      localVolumes: realNode && {
        nodeName: realNode.nodeName,
        standInNode: NODE_NAME,
        // Only an export's claims: a VirtualMachineRestore's are for virt-launcher Pods, which
        // stay on the stand-in's Node.
        onRealNode: async (pvc) =>
          (pvc.metadata?.ownerReferences ?? []).some((r) => r.kind === VM_EXPORT.kind),
      },
    });
    stops.push(() => sim.stop());
    // Real VMs' disks: the real CSI driver on the real node, its own StorageClass.
    let csi: HostpathCsi | undefined;
    if (vms && realNode) {
      const started = await startHostpathCsi({
        kc,
        kubeconfigPath: controlPlane.kubeconfigPath,
        node: realNode,
        image: realNode.image('csi-hostpath'),
      });
      csi = started;
      stops.push(() => started.stop());
    }
    const kubelet = new Kubelet(
      kc,
      dir,
      {
        secret: async (ns, name) =>
          (await client.core.readNamespacedSecret({ namespace: ns, name }).catch(() => undefined))?.data,
        configMap: async (ns, name) =>
          (await client.core.readNamespacedConfigMap({ namespace: ns, name }).catch(() => undefined))?.data,
        diskFile: (ns, claim) => sim.diskFile(ns, claim),
      },
      log,
    );
    await kubelet.start();
    stops.push(() => kubelet.stop());
    kubelet.neverReady = (pod) =>
      faultValue(Ann.faultExport, ...faults.sourcesOfOwned(pod)) === 'never-ready';
    // fault-vm-change at export-ready, once per export: when the kubelet first reports its
    // exporter Pod Ready (virt-controller then calls the export Ready).
    kubelet.onReady = async (pod) => {
      const [vmExport, vm] = faults.sourcesOfOwned(pod);
      await vmChanges.fire(vm, 'export-ready', vmExport?.metadata.uid);
    };
    const routing = new ServiceRouting({
      kc,
      kubelet,
      log,
      faultSources: (service) => faults.sourcesOf(service),
      onHosts: (byHost) => hosts.write(byHost),
      clusterDns: realNode && { server: realNode.dns.ip },
      podRoutes: realNode && { network: realNode.network, bridge: POD_BRIDGE },
      // fault-vm-change at export-read, once per export: what a user or another
      // controller would do to the VM (virt-controller then acts on it as on a cluster).
      onRead: (service) => {
        const [vmExport, vm] = faults.sourcesOf(service);
        void vmChanges.fire(vm, 'export-read', vmExport?.metadata.uid);
      },
    });
    await routing.start();
    stops.push(() => routing.stop());
    if (realNode) {
      // The stand-in's seams for exporter Pods on the real node: never-ready, export-ready.
      const exporters = new RealExporterPods({
        kc,
        nodeName: realNode.nodeName,
        network: realNode.network,
        faultSources: (pod) => faults.sourcesOfOwned(pod),
        onReady: (pod) => kubelet.onReady(pod),
        log,
      });
      await exporters.start();
      stops.push(() => exporters.stop());
    }
    const handler = new VirtHandler(kc, log);
    await handler.start();
    stops.push(() => handler.stop());
    const snapshotController = startSnapshotController({ kubeconfigPath: controlPlane.kubeconfigPath, dir });
    stops.push(() => snapshotController.stop());
    const controllerManager = startKubeControllerManager({
      kubeconfigPath: controlPlane.kubeconfigPath,
      dir,
      endpointSlices: !!realNode,
      workloads: realNode && { rootCaFile: controlPlane.caFile },
    });
    stops.push(() => controllerManager.stop());
    const scheduler = await startKubeScheduler({ kubeconfigPath: controlPlane.kubeconfigPath, dir });
    stops.push(() => scheduler.stop());
    // With the real virt-api, virt-controller and virt-handler must be KubeVirt's service
    // accounts: its VMI webhook drops every other user's status change (the VMI has no
    // status subresource). They get client certificates of those user names, in
    // system:masters (virt-operator gives them tokens and its own RBAC).
    const kubevirtUser = (serviceAccount: string) =>
      vms
        ? controlPlane.userKubeconfig(
            `system:serviceaccount:${KUBEVIRT_NAMESPACE}:${serviceAccount}`,
            'system:masters',
          )
        : controlPlane.kubeconfigPath;
    const virtController = await startVirtController({
      kc,
      kubeconfigPath: kubevirtUser('kubevirt-controller'),
      dir,
      exporterImage: realNode?.image('exporter'),
      launcherImage: vms ? realNode?.image('virt-launcher') : undefined,
      // The real virt-api's webhooks refuse a VirtualMachineSnapshot or VirtualMachineExport
      // unless these gates are on, as a cluster's admin turns them on for the operator
      // (virt-controller alone does not check them: the other beds need none).
      configuration: vms
        ? { developerConfiguration: { useEmulation: true, featureGates: ['Snapshot', 'VMExport'] } }
        : undefined,
    });
    stops.push(() => virtController.stop());
    let cdi: CdiController | undefined;
    if (realCdi && realNode) {
      cdi = await startCdiController({
        kc,
        kubeconfigPath: controlPlane.kubeconfigPath,
        dir,
        importerImage: realNode.image('cdi-importer'),
      });
      stops.push(() => cdi!.stop());
      // CDI knows no claim properties of the real CSI driver (kubernetes-csi's hostpath is not
      // in its list): what its StorageClass gives, as an admin does for such a driver.
      await cdi.storageProfile(HOSTPATH_STORAGE_CLASS, [
        { accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' },
      ]);
    }
    // Real VMs get the real virt-handler and the real virt-api (its subresources reach the
    // guest's agent through that virt-handler), started side by side: each spends most of
    // its start waiting (the node labeller, virt-api's 15 s readiness delay). The other
    // beds keep the simulated subresources: their virt-handler is the stand-in, which a
    // real virt-api could not call.
    let virtHandler: RealVirtHandler | undefined;
    let virtApi: RealVirtApi | undefined;
    let subresources: SubresourcesApi | undefined;
    if (vms && realNode) {
      const [handler, api] = await Promise.allSettled([
        startRealVirtHandler({
          kc,
          kubeconfigPath: kubevirtUser('kubevirt-handler'),
          node: realNode,
          handlerImage: realNode.image('virt-handler'),
          launcherImage: realNode.image('virt-launcher'),
        }),
        startRealVirtApi({ kc, node: realNode, image: realNode.image('virt-api') }),
      ]);
      if (handler.status === 'fulfilled') stops.push(() => handler.value.stop());
      if (api.status === 'fulfilled') stops.push(() => api.value.stop());
      if (handler.status === 'rejected') throw handler.reason;
      if (api.status === 'rejected') throw api.reason;
      virtHandler = handler.value;
      virtApi = api.value;
    } else {
      const started = await startSubresourcesApi(kc);
      subresources = started;
      stops.push(() => started.stop());
    }
    // virt-controller starts its export controller only once the CA ConfigMap is in its cache.
    await waitFor(
      'virt-controller to start its controllers',
      async () => /Starting export controller/.test(virtController.process.tail(400)),
      60_000,
      () => virtController.process.tail(),
    );
    return {
      ...sim,
      exportCaPem: virtController.exportCaPem,
      async withVirtControllerPaused(fn) {
        virtController.process.child.kill('SIGSTOP');
        try {
          return await fn();
        } finally {
          virtController.process.child.kill('SIGCONT');
        }
      },
      exportServers: () =>
        kubelet
          .pods()
          .filter((p) => p.process)
          .map((p) => ({
            namespace: p.namespace,
            name: p.name,
            pid: p.process!.child.pid!,
            url: `https://127.0.0.1:${p.port}`,
          })),
      kubeconfigPath: controlPlane.kubeconfigPath,
      dir,
      freezeCalls: subresources?.calls ?? [],
      hostsFile: hosts.path,
      realNode,
      virtHandler,
      virtApi,
      csi,
      cdi,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The caches the fault switches are read from: a Service's faults are on its
 * VirtualMachineExport (its owner), then on the export's VM.
 */
async function faultCaches(kc: k8s.KubeConfig) {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const cache = (r: typeof VM) =>
    k8s.makeInformer<Obj>(kc, `/apis/${r.group}/${r.version}/${r.plural}`, () =>
      api.listClusterCustomObject({ group: r.group, version: r.version, plural: r.plural }),
    );
  const exports = cache(VM_EXPORT);
  const vms = cache(VM);
  const stops = [await startWatching(exports), await startWatching(vms)];
  const sourcesOfOwned = (o: { metadata?: k8s.V1ObjectMeta }): Array<Obj | undefined> => {
    const owner = (o.metadata?.ownerReferences ?? []).find((r) => r.kind === VM_EXPORT.kind);
    const vmExport = owner && exports.get(owner.name, o.metadata!.namespace);
    const vmName = vmExport?.status?.virtualMachineName as string | undefined;
    return [vmExport, vmName ? vms.get(vmName, o.metadata!.namespace) : undefined];
  };
  return {
    sourcesOf(service: k8s.V1Service): Array<Obj | undefined> {
      return sourcesOfOwned(service);
    },
    /** For any object an export owns (its Service, its exporter Pod). */
    sourcesOfOwned,
    stop: () => Promise.all(stops.map((s) => s())).then(() => undefined),
  };
}
