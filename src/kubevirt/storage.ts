// The storage behind a VM's volumes, as far as imaging it depends on it: is the PVC there
// and Bound, and has CDI finished filling the DataVolume? GitOps tools and CDI create
// these after the VM, so "not yet" is the normal case, waited for, not refused.
// DataVolume: cdi.kubevirt.io/v1beta1, status.phase (Pending, PVCBound, ImportScheduled,
// ImportInProgress, CloneScheduled, CloneInProgress, ..., Succeeded, Failed, Paused,
// WaitForFirstConsumer, PendingPopulation, Unknown) and status.progress ("45.20%").
import type { KubernetesObject } from '@kubernetes/client-node';

export const PERSISTENT_VOLUME_CLAIM = {
  group: '',
  version: 'v1',
  plural: 'persistentvolumeclaims',
  kind: 'PersistentVolumeClaim',
};
export const CDI_GROUP = 'cdi.kubevirt.io';
export const DATA_VOLUME_KIND = 'DataVolume';

interface PvcLike extends KubernetesObject {
  status?: { phase?: string };
}
interface DataVolumeLike extends KubernetesObject {
  status?: {
    phase?: string;
    progress?: string;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
  };
}

export interface StorageLookup {
  pvc(namespace: string, name: string): KubernetesObject | undefined;
  /** undefined when the cluster has no CDI (the DataVolume kind is not served). */
  dataVolume?: (namespace: string, name: string) => KubernetesObject | undefined;
}

/** Why the volume's storage is not ready to be snapshotted yet; undefined when it is. */
export function storageNotReady(
  storage: StorageLookup,
  namespace: string,
  volume: { source: string; claimName?: string },
): string | undefined {
  if (!volume.claimName) return undefined;
  const pvc = storage.pvc(namespace, volume.claimName) as PvcLike | undefined;
  if (volume.source === 'dataVolume' && storage.dataVolume) {
    const dv = storage.dataVolume(namespace, volume.claimName) as DataVolumeLike | undefined;
    // No DataVolume but its PVC: CDI garbage-collected the DataVolume after it succeeded
    // (dataVolumeTTLSeconds), or the PVC was made directly; KubeVirt then uses the PVC.
    if (!dv && !pvc) return `DataVolume ${volume.claimName} not found`;
    const phase = dv ? dv.status?.phase || 'Pending' : 'Succeeded';
    if (dv && phase !== 'Succeeded')
      return `DataVolume ${volume.claimName} is ${phase}${dataVolumeDetail(dv)}`;
  }
  if (!pvc) return `PersistentVolumeClaim ${volume.claimName} not found`;
  const phase = pvc.status?.phase ?? 'Pending';
  if (phase !== 'Bound') return `PersistentVolumeClaim ${volume.claimName} is ${phase}`;
  return undefined;
}

/** " (45.20%)", plus CDI's Running/Bound condition message when it says why it waits. */
function dataVolumeDetail(dv: DataVolumeLike): string {
  const parts: string[] = [];
  const progress = dv.status?.progress;
  if (progress && progress !== 'N/A') parts.push(progress);
  const why = dv.status?.conditions?.find((c) => c.status !== 'True' && c.message)?.message;
  if (why) parts.push(why);
  return parts.length > 0 ? ` (${parts.join(': ')})` : '';
}
