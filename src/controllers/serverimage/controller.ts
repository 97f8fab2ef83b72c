// Wires the ServerImage controller: informers for ServerImages and for what they watch
// (VirtualMachines, our snapshots, exports and transfer Pods), the work queue and workers,
// the transfer slots and the progress poller. Children map back to their ServerImage
// through owner references; a VirtualMachine to every ServerImage that names it.
import { describeClientError } from '../../kube/client-error.js';
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  type V1Pod,
} from '@kubernetes/client-node';
import { readyCondition } from '../../api/condition.js';
import type { Config } from '../../config.js';
import type { OperatorMetrics } from '../../metrics.js';
import {
  type Clock,
  Controller,
  EventRecorder,
  WorkQueue,
  InformerSet,
  type Logger,
  discoverResource,
  enqueueOwner,
  enqueueSelf,
  keyOf,
  ownerKeyOf,
  systemClock,
  withFields,
} from '../../kube/index.js';
import { CDI_GROUP, DATA_VOLUME_KIND, PERSISTENT_VOLUME_CLAIM } from '../../kubevirt/storage.js';
import { RegistryBackoff } from './registry-backoff.js';
import {
  EXPORT_GROUP,
  EXPORT_KIND,
  VIRTUAL_MACHINE,
  VIRTUAL_MACHINE_INSTANCE,
  VIRTUAL_MACHINE_SNAPSHOT,
  VIRTUAL_MACHINE_SNAPSHOT_CONTENT,
} from '../../kubevirt/groups.js';
import { ChildObjects } from './children.js';
import type { Deps } from './deps.js';
import { registryClientFor } from './registry-access.js';
import { ServerImageReconciler } from './reconciler.js';
import { POD_RESOURCE, podEnded, TRANSFER_POD_SELECTOR, TransferPods } from './transfer-pods.js';
import { ProgressPoller } from './transfer-progress.js';
import { Slots } from './slots.js';
import { TransferStatusWriter } from './transfer-status.js';
import { type ServerImageObject } from './types.js';
import { VerificationVmis } from './verification.js';
import { SERVERIMAGE_OWNER_KIND, SERVERIMAGE_RESOURCE } from '../../api/kinds.js';
import { EVENT_COMPONENT, SERVERIMAGE_LABEL } from '../../api/metadata-keys.js';

export interface ServerImageControllerOptions {
  kubeConfig: KubeConfig;
  config: Config;
  logger: Logger;
  metrics?: OperatorMetrics;
  /** Whose time the reconciles, the queue and the events read: the system clock in the operator. */
  clock?: Clock;
  /** Event source instance, e.g. the pod name. */
  instance?: string;
}

export interface RunningServerImageController {
  controller: Controller;
  /** The transfer slots, counted from the cluster. */
  slots: Slots;
  hasSynced(): boolean;
  /**
   * Stops taking work and waits for the reconciles. Transfer Pods go on: they are not the
   * process's, and a successor (a restart, another leader) follows them.
   */
  stop(): Promise<void>;
}

export async function startServerImageController(
  options: ServerImageControllerOptions,
): Promise<RunningServerImageController> {
  const { kubeConfig, config, logger } = options;
  if (!config.transferImage)
    throw new Error(
      "--transfer-image is not set: the transfer Pods need an image (the operator's own; the chart sets it)",
    );
  const clock = options.clock ?? systemClock;
  const exportResource = await discoverResource(kubeConfig, EXPORT_GROUP, EXPORT_KIND);
  if (!exportResource) {
    throw new Error(
      `the API server does not serve ${EXPORT_KIND} (${EXPORT_GROUP}): is KubeVirt installed with the VMExport feature gate?`,
    );
  }
  // CDI may be absent (VMs on plain PVCs): then DataVolumes are not read, and a
  // dataVolume volume waits for its PVC only.
  const dataVolumeResource = await discoverResource(kubeConfig, CDI_GROUP, DATA_VOLUME_KIND);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
  const informerOptions = { kubeConfig, logger };
  const namespaces = config.watchNamespaces;
  const ours = { labelSelector: SERVERIMAGE_LABEL };

  const serverImages = new InformerSet<ServerImageObject>(
    { ...informerOptions, resource: SERVERIMAGE_RESOURCE },
    namespaces,
  );
  const vms = new InformerSet<KubernetesObject>(
    { ...informerOptions, resource: VIRTUAL_MACHINE },
    namespaces,
  );
  const snapshots = new InformerSet<KubernetesObject>(
    { ...informerOptions, ...ours, resource: VIRTUAL_MACHINE_SNAPSHOT },
    namespaces,
  );
  const exports = new InformerSet<KubernetesObject>(
    { ...informerOptions, ...ours, resource: exportResource },
    namespaces,
  );
  const pvcs = new InformerSet<KubernetesObject>(
    { ...informerOptions, resource: PERSISTENT_VOLUME_CLAIM },
    namespaces,
  );
  const transferPodCache = new InformerSet<V1Pod>(
    { ...informerOptions, labelSelector: TRANSFER_POD_SELECTOR, resource: POD_RESOURCE },
    namespaces,
  );
  // Only the throw-away VMIs of verifications (spec.verify.boot): ours by label.
  const verificationVmis = new InformerSet<KubernetesObject>(
    { ...informerOptions, ...ours, resource: VIRTUAL_MACHINE_INSTANCE },
    namespaces,
  );
  const dataVolumes = dataVolumeResource
    ? new InformerSet<KubernetesObject>({ ...informerOptions, resource: dataVolumeResource }, namespaces)
    : undefined;

  const controller = new Controller({
    name: 'serverimage',
    workers: config.workers,
    logger,
    clock,
    metrics: options.metrics?.reconcile(),
    queue: new WorkQueue({ clock, metrics: options.metrics?.workQueue() }),
    keyField: 'serverimage',
    reconcile: (key) => reconciler.reconcile(key),
  });

  const enqueue = (key: string) => controller.enqueue(key);
  const statusWriter = new TransferStatusWriter(custom, objects, logger);
  // A slot is held by an export of ours or a transfer Pod that has not ended, whoever made it.
  const live = (o: KubernetesObject) => !o.metadata?.deletionTimestamp;
  const slotHolders = function* () {
    for (const e of exports.list()) if (live(e)) yield ownerKeyOf(e, SERVERIMAGE_OWNER_KIND);
    for (const p of transferPodCache.list())
      if (live(p) && !podEnded(p)) yield ownerKeyOf(p, SERVERIMAGE_OWNER_KIND);
  };
  const slots = new Slots(
    config.maxConcurrentExports,
    () => [...slotHolders()].filter((k): k is string => k !== undefined),
    enqueue,
  );
  // A verification slot is held by a verification VMI of ours that is not being deleted.
  const verificationSlots = new Slots(
    config.maxConcurrentVerifications,
    () =>
      verificationVmis
        .list()
        .filter(live)
        .map((vmi) => ownerKeyOf(vmi, SERVERIMAGE_OWNER_KIND))
        .filter((k): k is string => k !== undefined),
    enqueue,
  );
  const progress = new ProgressPoller(statusWriter, config.progressInterval, clock, logger);

  const deps: Deps = {
    config,
    clock,
    logger,
    serverImages,
    vms,
    snapshots,
    exports,
    children: new ChildObjects(custom, core, exportResource.version),
    slots,
    transferPods: new TransferPods(core, transferPodCache),
    progress,
    metrics: options.metrics,
    registryBackoff: new RegistryBackoff(),
    verification: new VerificationVmis(custom, verificationVmis, verificationSlots),
    verificationMetrics: options.metrics,
    storage: {
      pvc: (namespace, name) => pvcs.get(name, namespace),
      dataVolume: dataVolumes ? (namespace, name) => dataVolumes.get(name, namespace) : undefined,
    },
    registryFor: (si, { repository = si.spec.registry.repository, probe = false } = {}) =>
      registryClientFor(
        core,
        si,
        repository,
        withFields(logger, { serverimage: keyOf(si.metadata) }),
        probe ? { attempts: 1 } : undefined,
      ),
    recordUploadSession: (key, location) => statusWriter.recordUploadSession(key, location),
    readSnapshotContent: (namespace, name) =>
      custom.getNamespacedCustomObject({ ...VIRTUAL_MACHINE_SNAPSHOT_CONTENT, namespace, name }),
  };
  const recorder = new EventRecorder(core, {
    component: EVENT_COMPONENT,
    instance: options.instance,
    clock,
    onError: (err, event) =>
      logger.warn({ error: describeClientError(err), reason: event.reason }, 'event not recorded'),
  });
  const reconciler = new ServerImageReconciler(deps, custom, objects, recorder);
  const byOwner = enqueueOwner(SERVERIMAGE_OWNER_KIND, enqueue);
  snapshots.addHandlers(byOwner);
  exports.addHandlers(byOwner);
  transferPodCache.addHandlers(byOwner);
  // A verification VMI that changes (agent connected, failed, gone) wakes its ServerImage.
  verificationVmis.addHandlers(byOwner);
  // An export or transfer Pod that goes (or ends) may free a slot for an image waiting for one.
  const slotMayBeFree = { onUpdate: () => slots.changed(), onDelete: () => slots.changed() };
  exports.addHandlers(slotMayBeFree);
  transferPodCache.addHandlers(slotMayBeFree);
  verificationVmis.addHandlers({
    onUpdate: () => verificationSlots.changed(),
    onDelete: () => verificationSlots.changed(),
  });
  const imagesOfVm = (namespace: string | undefined, vmName: string | undefined) => {
    for (const si of serverImages.list(namespace)) {
      if (si.spec.serverRef.name === vmName) enqueue(keyOf(si.metadata));
    }
  };
  serverImages.addHandlers(enqueueSelf(enqueue));
  // One image per VM at a time: when one finishes or goes, the next in line may start.
  serverImages.addHandlers({
    onUpdate: (old, si) => {
      if (old.status?.phase !== si.status?.phase) imagesOfVm(si.metadata.namespace, si.spec.serverRef.name);
    },
    onDelete: (si) => imagesOfVm(si.metadata.namespace, si.spec.serverRef.name),
  });
  const vmChanged = (vm: KubernetesObject) => imagesOfVm(vm.metadata?.namespace, vm.metadata?.name);
  vms.addHandlers({ onAdd: vmChanged, onUpdate: (_old, vm) => vmChanged(vm), onDelete: vmChanged });
  // A PVC or DataVolume an image waits for: wake the images still Queued in its namespace
  // (which volume belongs to which VM is the VM's business; Queued images are few).
  const storageChanged = (o: KubernetesObject) => {
    for (const si of serverImages.list(o.metadata?.namespace)) {
      if ((si.status?.phase ?? 'Queued') === 'Queued') enqueue(keyOf(si.metadata));
    }
  };
  for (const informer of [pvcs, dataVolumes]) {
    informer?.addHandlers({
      onAdd: storageChanged,
      onUpdate: (_old, o) => storageChanged(o),
      onDelete: storageChanged,
    });
  }

  options.metrics?.countImages(() =>
    serverImages.list().map((si) => ({
      phase: si.status?.phase ?? 'Pending',
      reason: readyCondition(si)?.reason ?? '',
    })),
  );
  options.metrics?.countLastVerified(() =>
    serverImages.list().flatMap((si) => {
      const v = si.status?.verification;
      return v?.result === 'Verified' && v.completionTime
        ? [{ namespace: si.metadata.namespace, vm: si.spec.serverRef.name, time: new Date(v.completionTime) }]
        : [];
    }),
  );
  const informers = [
    serverImages,
    verificationVmis,
    vms,
    snapshots,
    exports,
    transferPodCache,
    pvcs,
    ...(dataVolumes ? [dataVolumes] : []),
  ];
  for (const informer of informers) informer.start();
  await Promise.all(informers.map((i) => i.waitForSync()));
  controller.start();
  logger.info(
    {
      exportVersion: exportResource.version,
      dataVolumes:
        dataVolumeResource?.version ?? 'not served (no CDI): dataVolume volumes wait for their PVC only',
      namespaces: namespaces.length > 0 ? namespaces : 'all',
      allowedRegistries: config.allowedRegistries.length > 0 ? config.allowedRegistries : 'any',
    },
    'serverimage controller started',
  );

  return {
    controller,
    slots,
    hasSynced: () => informers.every((i) => i.hasSynced()),
    async stop() {
      controller.queue.shutDown();
      progress.stopAll();
      await controller.stop();
      // A reconcile that was running may have followed a Pod again meanwhile.
      progress.stopAll();
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
