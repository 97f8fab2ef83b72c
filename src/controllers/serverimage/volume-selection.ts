// Which volumes of the VM become images (DESIGN.md, Queued): the requested ones, or
// every disk the VM has, boot disk first. A disk whose data a snapshot would leave
// out is refused up front (Nova's 415), never silently skipped (kubevirt#10071).
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
  /** KubeVirt has not reported volumeSnapshotStatuses yet. */
  | { kind: 'unknown'; message: string }
  | { kind: 'unsupported'; message: string };

const describe = (v: VmVolume): string => `${v.name} (${v.reason ?? `${v.source} cannot be snapshotted`})`;

export function selectVolumes(vm: VirtualMachineView, requested?: string[]): VolumeSelection {
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
  // A reason means KubeVirt has judged the volume; no status at all means not yet.
  const unjudged = candidates.filter(
    (v) => !v.snapshottable && v.reason === undefined && v.claimName !== undefined,
  );
  if (unjudged.length > 0) {
    return {
      kind: 'unknown',
      message: `waiting for KubeVirt to report whether ${unjudged.map((v) => v.name).join(', ')} can be snapshotted`,
    };
  }
  const unsupported = candidates.filter((v) => !v.snapshottable || v.claimName === undefined);
  if (unsupported.length > 0) {
    return { kind: 'unsupported', message: `cannot snapshot volume ${unsupported.map(describe).join('; ')}` };
  }
  return { kind: 'selected', volumes: candidates.map((v) => ({ name: v.name, claimName: v.claimName! })) };
}

/** The boot volume goes under the tag; every other volume under `<tag>-<volume>`. */
export function volumeTag(tag: string, volumeIndex: number, volumeName: string): string {
  return volumeIndex === 0 ? tag : `${tag}-${volumeName}`.slice(0, 128);
}
