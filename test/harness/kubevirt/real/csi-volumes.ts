// PersistentVolumes for the real-controller bed: the simulator as the external CSI
// provisioner (external-provisioner + driver's CreateVolume/DeleteVolume). kube-controller-
// manager's real PV controller (persistentvolume-binder) marks a claim of our StorageClass
// with volume.kubernetes.io/storage-provisioner; once the claim's bytes are ready (a disk
// file, a restore from a VolumeSnapshot, a DataVolume's import) this creates PV `pvc-<uid>`
// with our driver, the disk file as volumeHandle and claimRef to the claim; the PV
// controller then binds both. A Released PV (its claim gone, reclaim policy Delete) is
// deleted here, as the external provisioner does; the real pv-protection controller lets it go.
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
    await this.client.core
      .createPersistentVolume({
        body: {
          metadata: { name: pvNameOf(pvc), annotations: { [PROVISIONED_BY]: this.driver } },
          spec: {
            capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '0' },
            accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
            volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
            storageClassName: pvc.spec?.storageClassName,
            persistentVolumeReclaimPolicy: 'Delete',
            claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name, uid },
            csi: { driver: this.driver, volumeHandle: volumeHandleOf(this.disks, file) },
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
  }
}
