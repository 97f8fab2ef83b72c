// PersistentVolumes for the real-controller bed: the simulator as the external CSI
// provisioner (external-provisioner + driver's CreateVolume/DeleteVolume). kube-controller-
// manager's real PV controller (persistentvolume-binder) marks a claim of our StorageClass
// with volume.kubernetes.io/storage-provisioner; once the claim's bytes are ready (a disk
// file, a restore from a VolumeSnapshot, a DataVolume's import) this creates PV `pvc-<uid>`
// with our driver, the disk file as volumeHandle and claimRef to the claim; the PV
// controller then binds both. A Released PV (its claim gone, reclaim policy Delete) is
// deleted here, as the external provisioner does; the real pv-protection controller lets it go.
//
// With a real node in the bed (LocalVolumes): a Filesystem claim restored from a
// VolumeSnapshot that `onRealNode` picks (an export's restore PVC) gets a `local` PV on
// the real node instead (a folder holding disk.img, a hard link of the claim's frozen disk
// file, with node affinity to that node), which the real kubelet mounts into virt-controller's
// exporter Pod at /export-volumes/NAME; kube-scheduler's VolumeBinding then puts the Pod on
// that node. Every CSI PV gets node affinity to the stand-in's node, the one node where this
// driver "runs": no kubelet can mount our CSI volumes, so no Pod using one may land on the
// real node (a real VM's disk there is a claim of the real CSI driver's class, csi-hostpath.ts,
// which this leaves alone).
import { link, mkdir, rm } from 'node:fs/promises';
import * as k8s from '@kubernetes/client-node';
import type { Client } from '../api.js';
import type { DiskStore } from '../disk-store.js';
import type { VolumeBinder } from '../pvc-controller.js';
import { WorkQueue, type Logger } from '../work-queue.js';
import { volumeHandleOf } from './csi-snapshotter.js';
import { startWatching } from './watch.js';

/** Set on a claim by the PV controller: which provisioner is to make its volume. */
export const STORAGE_PROVISIONER = 'volume.kubernetes.io/storage-provisioner';
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

const pvNameOf = (pvc: k8s.V1PersistentVolumeClaim): string => `pvc-${pvc.metadata!.uid}`;

/** Where the volumes live when the bed has a real node. */
export interface LocalVolumes {
  /** The real node's name (its kubernetes.io/hostname label). */
  nodeName: string;
  /** The kubelet stand-in's Node, where the CSI driver stand-in's volumes are. */
  standInNode: string;
  /** Whether this restore claim's volume goes to the real node (else a CSI PV on the stand-in's). */
  onRealNode(pvc: k8s.V1PersistentVolumeClaim): Promise<boolean>;
}

const onNode = (node: string): k8s.V1VolumeNodeAffinity => ({
  required: {
    nodeSelectorTerms: [
      { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
    ],
  },
});

/** The folder a local PV of `file` is (it holds disk.img). */
const localDirOf = (file: string) => `${file}.volume`;

export class CsiVolumes implements VolumeBinder {
  private readonly volumes: k8s.Informer<k8s.V1PersistentVolume> & k8s.ObjectCache<k8s.V1PersistentVolume>;
  private readonly queue: WorkQueue;
  private stopWatching?: () => Promise<void>;

  constructor(
    kc: k8s.KubeConfig,
    private readonly client: Client,
    private readonly disks: DiskStore,
    private readonly driver: string,
    log: Logger,
    private readonly local?: LocalVolumes,
  ) {
    this.volumes = k8s.makeInformer(kc, '/api/v1/persistentvolumes', () =>
      client.core.listPersistentVolume(),
    );
    this.queue = new WorkQueue('csi-provisioner', (name) => this.reclaim(name), log);
    this.volumes.on('add', (pv) => this.queue.add(pv.metadata!.name!));
    this.volumes.on('update', (pv) => this.queue.add(pv.metadata!.name!));
  }

  async start(): Promise<void> {
    this.stopWatching = await startWatching(this.volumes);
  }

  async stop(): Promise<void> {
    await this.stopWatching?.();
    await this.queue.stop();
  }

  /** CreateVolume once the PV controller asked us; the binding is the PV controller's. */
  async bind(pvc: k8s.V1PersistentVolumeClaim, file: string): Promise<void> {
    if (pvc.metadata?.annotations?.[STORAGE_PROVISIONER] !== this.driver || pvc.spec?.volumeName) return;
    const { namespace, name, uid } = pvc.metadata as { namespace: string; name: string; uid: string };
    const volumeMode = pvc.spec?.volumeMode ?? 'Filesystem';
    let source: Partial<k8s.V1PersistentVolumeSpec> = {
      csi: { driver: this.driver, volumeHandle: volumeHandleOf(this.disks, file) },
      ...(this.local && { nodeAffinity: onNode(this.local.standInNode) }),
    };
    if (
      this.local &&
      volumeMode === 'Filesystem' &&
      pvc.spec?.dataSource?.kind === 'VolumeSnapshot' &&
      (await this.local.onRealNode(pvc))
    ) {
      // A restore's bytes never change, so a hard link is the volume's disk for good.
      const dir = localDirOf(file);
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await rm(`${dir}/disk.img`, { force: true });
      await link(file, `${dir}/disk.img`);
      source = { local: { path: dir }, nodeAffinity: onNode(this.local.nodeName) };
    }
    await this.client.core
      .createPersistentVolume({
        body: {
          metadata: { name: pvNameOf(pvc), annotations: { [PROVISIONED_BY]: this.driver } },
          spec: {
            capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '0' },
            accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
            volumeMode,
            storageClassName: pvc.spec?.storageClassName,
            persistentVolumeReclaimPolicy: 'Delete',
            claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name, uid },
            ...source,
          },
        },
      })
      .catch((err: unknown) => {
        if (!(err instanceof k8s.ApiException && err.code === 409)) throw err;
      });
  }

  /** DeleteVolume for a Released PV of ours whose policy is Delete (the file went with its claim). */
  private async reclaim(name: string): Promise<void> {
    const pv = this.volumes.get(name);
    if (!pv || pv.metadata?.deletionTimestamp || pv.metadata?.annotations?.[PROVISIONED_BY] !== this.driver)
      return;
    if (pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') return;
    await this.client.core.deletePersistentVolume({ name }).catch((err: unknown) => {
      if (!(err instanceof k8s.ApiException && err.code === 404)) throw err;
    });
    // A local PV's folder (the kubelet unmounted it before the claim could go).
    if (pv.spec?.local?.path) await rm(pv.spec.local.path, { recursive: true, force: true });
  }
}
