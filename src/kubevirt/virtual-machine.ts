// The fields of a KubeVirt VirtualMachine that the reconciler acts on, parsed with zod
// at the boundary. Types of the whole object come from @kubevirt-ui-ext/kubevirt-api.
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { z } from 'zod';
import { parseObject } from './parse.js';

const volumeSchema = z.looseObject({
  name: z.string(),
  persistentVolumeClaim: z.looseObject({ claimName: z.string() }).optional(),
  dataVolume: z.looseObject({ name: z.string() }).optional(),
});

const diskSchema = z.looseObject({ name: z.string(), bootOrder: z.number().int().optional() });

const virtualMachineSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string(),
    uid: z.string(),
    deletionTimestamp: z.unknown().optional(),
  }),
  spec: z.looseObject({
    runStrategy: z.string().optional(),
    /** Deprecated for runStrategy: true is Always, false Halted. */
    running: z.boolean().optional(),
    template: z
      .looseObject({
        spec: z
          .looseObject({
            domain: z
              .looseObject({ devices: z.looseObject({ disks: z.array(diskSchema).optional() }).optional() })
              .optional(),
            volumes: z.array(volumeSchema).optional(),
          })
          .optional(),
      })
      .optional(),
  }),
  status: z
    .looseObject({
      printableStatus: z.string().optional(),
      snapshotInProgress: z.string().optional(),
      conditions: z
        .array(
          z.looseObject({
            type: z.string(),
            status: z.string(),
            reason: z.string().optional(),
            message: z.string().optional(),
          }),
        )
        .optional(),
      volumeSnapshotStatuses: z
        .array(z.looseObject({ name: z.string(), enabled: z.boolean(), reason: z.string().optional() }))
        .optional(),
    })
    .optional(),
});

export type VirtualMachineObject = V1VirtualMachine;

export interface VmVolume {
  name: string;
  /** The volume source's key: persistentVolumeClaim, dataVolume, containerDisk, cloudInitNoCloud ... */
  source: string;
  /** The PVC that holds the disk: persistentVolumeClaim.claimName or the DataVolume's name. */
  claimName?: string;
  snapshottable: boolean;
  /** KubeVirt's reason when it cannot be snapshotted. */
  reason?: string;
}

export interface VirtualMachineView {
  namespace: string;
  name: string;
  uid: string;
  /**
   * Being deleted (a deletionTimestamp): KubeVirt holds a VM that a snapshot has locked
   * (finalizer snapshot.kubevirt.io/snapshot-source-protection) until the snapshot is done
   * or deleted, so a deleted VM can linger while its snapshot still runs.
   */
  deleting: boolean;
  printableStatus: string;
  /** Whether KubeVirt has written a printableStatus yet (a VM created a moment ago has none). */
  stateReported: boolean;
  /**
   * KubeVirt's words when it marks the VM failed (condition Failure=True), e.g. a spec that
   * conflicts with its instancetype: no snapshot export of it will ever be made.
   */
  failure?: string;
  /** spec.runStrategy, or the legacy spec.running as Always/Halted; undefined when neither is set. */
  runStrategy?: string;
  snapshotInProgress?: string;
  /** Volumes in boot order: the boot disk first, then the rest in declaration order. */
  volumes: VmVolume[];
}

/** Nova's ACTIVE, SHUTOFF and PAUSED: the states an image may be taken in. */
export const IMAGEABLE_STATES = ['Running', 'Stopped', 'Paused'] as const;

export function isImageable(printableStatus: string): boolean {
  return (IMAGEABLE_STATES as readonly string[]).includes(printableStatus);
}

/**
 * States in which virt-controller says the VM waits for a volume (a runStrategy Always VM
 * whose PVC does not exist yet is ErrorPvcNotFound): what to report is the volume.
 */
const VOLUME_WAIT_STATES = ['ErrorPvcNotFound', 'WaitingForVolumeBinding'];

export function isWaitingForVolume(printableStatus: string): boolean {
  return VOLUME_WAIT_STATES.includes(printableStatus);
}

/**
 * A VM shown Stopped that KubeVirt is about to start: with runStrategy Always,
 * virt-controller reports Stopped whenever no VMI exists and it has not yet asked for one
 * (seen right after a DataVolume of the VM became ready, before Starting), and it starts
 * the VM on its next sync. Taking the image then would record Stopped and find it Running.
 */
export function isAboutToStart(vm: Pick<VirtualMachineView, 'printableStatus' | 'runStrategy'>): boolean {
  return vm.printableStatus === 'Stopped' && vm.runStrategy === 'Always';
}

function bootOrder(volumes: VmVolume[], disks: { name: string; bootOrder?: number }[]): VmVolume[] {
  const rank = (name: string): number => {
    const index = disks.findIndex((d) => d.name === name);
    const disk = disks[index];
    if (disk?.bootOrder !== undefined) return disk.bootOrder;
    // Without bootOrder, libvirt boots the first disk; keep declaration order after ranked ones.
    return 1_000_000 + (index === -1 ? disks.length : index);
  };
  return volumes
    .map((v, i) => ({ v, i }))
    .sort((a, b) => rank(a.v.name) - rank(b.v.name) || a.i - b.i)
    .map(({ v }) => v);
}

export function viewVirtualMachine(object: unknown): VirtualMachineView {
  const vm = parseObject(virtualMachineSchema, 'VirtualMachine', object);
  const statuses = new Map((vm.status?.volumeSnapshotStatuses ?? []).map((s) => [s.name, s]));
  const templateSpec = vm.spec.template?.spec;
  const volumes = (templateSpec?.volumes ?? []).map((volume): VmVolume => {
    const status = statuses.get(volume.name);
    return {
      name: volume.name,
      source: Object.keys(volume).find((key) => key !== 'name') ?? 'unknown',
      claimName: volume.persistentVolumeClaim?.claimName ?? volume.dataVolume?.name,
      snapshottable: status?.enabled ?? false,
      reason: status?.reason,
    };
  });
  return {
    namespace: vm.metadata.namespace,
    name: vm.metadata.name,
    uid: vm.metadata.uid,
    deleting: vm.metadata.deletionTimestamp !== undefined && vm.metadata.deletionTimestamp !== null,
    printableStatus: vm.status?.printableStatus ?? 'Unknown',
    stateReported: vm.status?.printableStatus !== undefined,
    ...failureOf(vm.status?.conditions),
    runStrategy:
      vm.spec.runStrategy ??
      (vm.spec.running === undefined ? undefined : vm.spec.running ? 'Always' : 'Halted'),
    snapshotInProgress: vm.status?.snapshotInProgress,
    volumes: bootOrder(volumes, templateSpec?.domain?.devices?.disks ?? []),
  };
}

function failureOf(
  conditions: { type: string; status: string; reason?: string; message?: string }[] | undefined,
): { failure?: string } {
  const failed = conditions?.find((c) => c.type === 'Failure' && c.status === 'True');
  if (!failed) return {};
  const words = [failed.reason, failed.message].filter((w) => w !== undefined && w !== '');
  return { failure: words.length > 0 ? words.join(': ') : 'no reason given' };
}
