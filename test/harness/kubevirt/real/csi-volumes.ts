// PersistentVolumes for the real-controller bed: the simulator as CSI provisioner and as the
// PV controller's binding. snapshot-controller takes a VolumeSnapshot only of a PVC Bound to
// a PV with a CSI source (its volumeHandle goes into the VolumeSnapshotContent), so every
// PVC the simulator binds gets one: PV `pvc-<uid>` with our driver, the disk file as
// volumeHandle, claimRef to the PVC; then PV Bound, PVC spec.volumeName, PVC Bound, in the
// PV controller's order. A deleted PVC's PV goes too (reclaim policy Delete), with the
// pv-protection finalizer the API server puts on every PV (no KCM protection controller here).
import * as k8s from '@kubernetes/client-node';
import type { Client } from '../api.js';
import type { DiskStore } from '../disk-store.js';
import type { VolumeBinder } from '../pvc-controller.js';
import { volumeHandleOf } from './csi-snapshotter.js';

const PV_PROTECTION = 'kubernetes.io/pv-protection';
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

export const pvNameOf = (pvc: k8s.V1PersistentVolumeClaim): string => `pvc-${pvc.metadata!.uid}`;

export class CsiVolumes implements VolumeBinder {
  constructor(
    private readonly client: Client,
    private readonly disks: DiskStore,
    private readonly driver: string,
  ) {}

  async bind(pvc: k8s.V1PersistentVolumeClaim, file: string): Promise<void> {
    const { namespace, name, uid } = pvc.metadata as { namespace: string; name: string; uid: string };
    const pvName = pvNameOf(pvc);
    const capacity = { storage: pvc.spec?.resources?.requests?.storage ?? '0' };
    const accessModes = pvc.spec?.accessModes ?? ['ReadWriteOnce'];
    await this.client.core
      .createPersistentVolume({
        body: {
          metadata: { name: pvName, annotations: { 'pv.kubernetes.io/provisioned-by': this.driver } },
          spec: {
            capacity,
            accessModes,
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
    await this.client.core.patchPersistentVolumeStatus(
      { name: pvName, body: { status: { phase: 'Bound' } } },
      mergePatch,
    );
    if (!pvc.spec?.volumeName) {
      await this.client.patchPvc(namespace, name, {
        metadata: { annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } },
        spec: { volumeName: pvName },
      });
    }
    await this.client.patchPvcStatus(namespace, name, { phase: 'Bound', accessModes, capacity });
  }

  async released(pvc: k8s.V1PersistentVolumeClaim): Promise<void> {
    const name = pvNameOf(pvc);
    const pv = await this.client.core.readPersistentVolume({ name }).catch(() => undefined);
    if (!pv) return;
    await this.client.core.deletePersistentVolume({ name }).catch(() => undefined);
    const finalizers = pv.metadata?.finalizers ?? [];
    if (!finalizers.includes(PV_PROTECTION)) return;
    await this.client.core
      .patchPersistentVolume(
        {
          name,
          body: [
            {
              op: 'replace',
              path: '/metadata/finalizers',
              value: finalizers.filter((f) => f !== PV_PROTECTION),
            },
          ],
        },
        jsonPatch,
      )
      .catch(() => undefined);
  }
}
