// Which of a VM's volumes can be snapshotted, worded as KubeVirt's snapshot
// controller words it (pkg/storage/snapshot/snapshot.go, getVolumeSnapshotStatus).
// Deviation: a PVC without a storageClassName counts as being on the cluster's
// default class, which has a VolumeSnapshotClass (there is no default-class admission
// here to fill the name in).
import type * as k8s from '@kubernetes/client-node';
import { Ann } from './annotations.js';
import type { Obj } from './api.js';
import type { Informers } from './informers.js';

export interface VolumeSnapshotStatus {
  name: string;
  enabled: boolean;
  reason?: string;
}

export interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string };
  dataVolume?: { name: string };
  memoryDump?: { claimName: string };
  [source: string]: unknown;
}

export function vmVolumes(vm: Obj): Volume[] {
  return (vm.spec?.template?.spec?.volumes ?? []) as Volume[];
}

/** The PVC behind a volume: persistentVolumeClaim, dataVolume (same name) or memoryDump. */
export function claimNameOf(volume: Volume): string | undefined {
  return volume.persistentVolumeClaim?.claimName ?? volume.dataVolume?.name ?? volume.memoryDump?.claimName;
}

function storageClassHasSnapshotClass(informers: Informers, storageClassName: string): boolean {
  const sc: k8s.V1StorageClass | undefined = informers.storageClasses.get(storageClassName);
  return sc?.metadata?.annotations?.[Ann.noVolumeSnapshotClass] !== 'true';
}

export function volumeSnapshotStatus(
  informers: Informers,
  namespace: string,
  volume: Volume,
): VolumeSnapshotStatus {
  const claimName = claimNameOf(volume);
  if (!claimName) {
    return {
      name: volume.name,
      enabled: false,
      reason: `Snapshot is not supported for this volumeSource type [${volume.name}]`,
    };
  }
  const pvc = informers.pvcs.get(claimName, namespace);
  if (!pvc) return { name: volume.name, enabled: false, reason: 'PVC not found' };
  const sc = pvc.spec?.storageClassName ?? '';
  if (sc !== '' && !storageClassHasSnapshotClass(informers, sc)) {
    return {
      name: volume.name,
      enabled: false,
      reason: `No VolumeSnapshotClass: Volume snapshots are not configured for this StorageClass [${sc}] [${volume.name}]`,
    };
  }
  return { name: volume.name, enabled: true };
}

export function volumeSnapshotStatuses(informers: Informers, vm: Obj): VolumeSnapshotStatus[] {
  return vmVolumes(vm).map((v) => volumeSnapshotStatus(informers, vm.metadata.namespace, v));
}
