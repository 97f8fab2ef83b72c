// Which volumes of the VM become images (ARCHITECTURE.md, Queued): the requested ones, or
// every disk the VM has, boot disk first. A disk whose data a snapshot would leave
// out is refused up front (Nova's 415), never silently skipped (KubeVirt's own snapshot
// leaves such a disk out and still reports success) - but
// only a disk that can never be snapshotted (containerDisk, emptyDisk, hostDisk, a
// StorageClass without VolumeSnapshotClass). A PVC not created or not Bound yet, or a
// DataVolume CDI is still importing, is waited for: GitOps and CDI make them after the VM.
import { storageNotReady, type StorageLookup } from '../../kubevirt/storage.js';
import type { VirtualMachineView, VmVolume } from '../../kubevirt/virtual-machine.js';

/** Volumes that carry configuration, not disk data: they are rebuilt from their source. */
const CONFIGURATION_SOURCES = new Set([
  'cloudInitNoCloud',
  'cloudInitConfigDrive',
  'configMap',
  'secret',
  'serviceAccount',
  'downwardAPI',
  'downwardMetrics',
  'sysprep',
]);

export interface SelectedVolume {
  name: string;
  claimName: string;
}

export type VolumeSelection =
  | { kind: 'selected'; volumes: SelectedVolume[] }
  /** Storage not ready yet, or KubeVirt has not judged the volume yet: wait. */
  | { kind: 'waiting'; message: string }
  | { kind: 'unsupported'; message: string };

/** KubeVirt's reasons for volumes that no wait can make snapshottable (pkg/storage/snapshot). */
const NEVER_SNAPSHOTTABLE = /not supported for this volumeSource type|No VolumeSnapshotClass/i;

const describe = (v: VmVolume): string => `${v.name} (${v.reason ?? `${v.source} cannot be snapshotted`})`;

/**
 * `storage` given (Queued): volumes whose storage is not ready are waited for. Without it
 * (Saving, the snapshot already taken), only a volume that cannot be snapshotted fails.
 */
export function selectVolumes(
  vm: VirtualMachineView,
  requested?: string[],
  storage?: StorageLookup,
): VolumeSelection {
  let candidates: VmVolume[];
  if (requested && requested.length > 0) {
    const missing = requested.filter((name) => !vm.volumes.some((v) => v.name === name));
    if (missing.length > 0) {
      return {
        kind: 'unsupported',
        message: `VirtualMachine ${vm.name} has no volume ${missing.join(', ')}`,
      };
    }
    candidates = vm.volumes.filter((v) => requested.includes(v.name));
  } else {
    candidates = vm.volumes.filter((v) => !CONFIGURATION_SOURCES.has(v.source));
  }
  if (candidates.length === 0) {
    return { kind: 'unsupported', message: `VirtualMachine ${vm.name} has no disk volume to image` };
  }
  const never = candidates.filter(
    (v) => v.claimName === undefined || (!v.snapshottable && NEVER_SNAPSHOTTABLE.test(v.reason ?? '')),
  );
  if (never.length > 0) {
    return { kind: 'unsupported', message: `cannot snapshot volume ${never.map(describe).join('; ')}` };
  }
  if (storage) {
    const notReady = candidates
      .map((v) => ({ v, why: storageNotReady(storage, vm.namespace, v) }))
      .filter((n) => n.why !== undefined);
    if (notReady.length > 0) {
      return {
        kind: 'waiting',
        message: `volume ${notReady.map((n) => `${n.v.name}: ${n.why}`).join('; ')}`,
      };
    }
    // The storage is ready; KubeVirt's verdict may lag behind it ("PVC not found"), or
    // not be there yet at all.
    const unjudged = candidates.filter((v) => !v.snapshottable);
    if (unjudged.length > 0) {
      const said = (v: VmVolume) => (v.reason ? ` (KubeVirt says: ${v.reason})` : '');
      return {
        kind: 'waiting',
        message: `KubeVirt to report that ${unjudged.map((v) => `${v.name}${said(v)}`).join(', ')} can be snapshotted`,
      };
    }
  }
  return { kind: 'selected', volumes: candidates.map((v) => ({ name: v.name, claimName: v.claimName! })) };
}

/**
 * The first volume imaged (the boot disk, or with spec.volumes the one first in boot
 * order among those asked for) goes under the tag; every other under `<tag>-<volume>`.
 */
export function volumeTag(tag: string, volumeIndex: number, volumeName: string): string {
  return volumeIndex === 0 ? tag : `${tag}-${volumeName}`.slice(0, 128);
}
