// The simulator as CSI snapshot driver plus snapshot-controller, for the VolumeSnapshots
// that the real virt-controller creates: a VolumeSnapshot of a PVC is taken at once (a
// hard link of the PVC's disk file, ../disk-store.ts) and reported readyToUse with its
// creationTime and restoreSize, which is what virt-controller reads. No
// VolumeSnapshotContent is made (see README, Deviations).
import type * as k8s from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { Ann, faultValue } from '../annotations.js';
import { keyOf, VOLUME_SNAPSHOT, type Client } from '../api.js';
import type { DiskStore } from '../disk-store.js';
import type { Informers } from '../informers.js';
import { WorkQueue, type Logger } from '../work-queue.js';

export class CsiSnapshotter {
  readonly queue: WorkQueue;

  constructor(
    private readonly client: Client,
    private readonly informers: Informers,
    private readonly disks: DiskStore,
    log: Logger,
  ) {
    this.queue = new WorkQueue('csi-snapshotter', (key) => this.sync(key), log);
    informers.volumeSnapshots.on('add', (o) => this.queue.add(keyOf(o)));
    informers.volumeSnapshots.on('update', (o) => this.queue.add(keyOf(o)));
    informers.volumeSnapshots.on('delete', (o) => {
      void this.disks.removeByUid('volumesnapshots', o.metadata.namespace, o.metadata.uid);
    });
  }

  private async sync(key: string): Promise<number | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const vs = this.informers.volumeSnapshots.get(name, namespace);
    if (!vs || vs.metadata.deletionTimestamp || vs.status?.readyToUse === true) return;
    const claim = vs.spec?.source?.persistentVolumeClaimName as string | undefined;
    if (!claim) return;
    // fault-snapshot on the VolumeSnapshot or its VM (labelled by virt-controller): the CSI
    // side fails the snapshot (status.error, as the external snapshotter reports a
    // driver error) or never makes it ready.
    const vmName = vs.metadata.labels?.['snapshot.kubevirt.io/source-vm-name'];
    const fault = faultValue(
      Ann.faultSnapshot,
      vs,
      vmName ? this.informers.vms.get(vmName, namespace) : undefined,
    );
    if (fault === 'hang') return;
    if (fault === 'fail') {
      if (vs.status?.error) return;
      await this.client.patchStatus(VOLUME_SNAPSHOT, namespace, name, {
        readyToUse: false,
        error: {
          message:
            faultValue(
              Ann.faultSnapshotMessage,
              vs,
              vmName ? this.informers.vms.get(vmName, namespace) : undefined,
            ) ?? 'snapshot failed',
          time: new Date().toISOString(),
        },
      });
      return;
    }
    const pvc: k8s.V1PersistentVolumeClaim | undefined = this.informers.pvcs.get(claim, namespace);
    const from = pvc && this.disks.pvcFile(namespace, claim, pvc.metadata!.uid!);
    if (!pvc || pvc.status?.phase !== 'Bound' || !from || !existsSync(from)) return 500;
    await this.disks.freeze(from, this.disks.volumeSnapshotFile(namespace, name, vs.metadata.uid));
    await this.client.patchStatus(VOLUME_SNAPSHOT, namespace, name, {
      readyToUse: true,
      creationTime: new Date().toISOString(),
      restoreSize: pvc.status?.capacity?.storage ?? pvc.spec?.resources?.requests?.storage,
      boundVolumeSnapshotContentName: `snapcontent-${vs.metadata.uid}`,
    });
  }
}
