// VirtualMachineSnapshot: the manifest we create and the status fields we act on.
import { z } from 'zod';
import { VIRTUAL_MACHINE_SNAPSHOT } from './groups.js';
import { kubevirtConditionsSchema, parseObject } from './parse.js';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
  blockOwnerDeletion: boolean;
}

export function snapshotManifest(
  namespace: string,
  name: string,
  vmName: string,
  owner: OwnerReference,
  labels: Record<string, string>,
): Record<string, unknown> {
  return {
    apiVersion: `${VIRTUAL_MACHINE_SNAPSHOT.group}/${VIRTUAL_MACHINE_SNAPSHOT.version}`,
    kind: VIRTUAL_MACHINE_SNAPSHOT.kind,
    metadata: { name, namespace, labels, ownerReferences: [owner] },
    spec: {
      source: { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: vmName },
      // Delete the VolumeSnapshots with the object: we purge what we made.
      deletionPolicy: 'Delete',
    },
  };
}

const snapshotStatusSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string() }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      readyToUse: z.boolean().optional(),
      error: z.looseObject({ message: z.string().optional() }).optional(),
      indications: z.array(z.string()).optional(),
      virtualMachineSnapshotContentName: z.string().optional(),
      sourceIndications: z.array(z.looseObject({ indication: z.string() })).optional(),
      snapshotVolumes: z.looseObject({ includedVolumes: z.array(z.string()).optional() }).optional(),
      conditions: kubevirtConditionsSchema,
    })
    .optional(),
});

export interface SnapshotView {
  name: string;
  phase: string;
  readyToUse: boolean;
  failed: boolean;
  /** KubeVirt's words on a failure. */
  errorMessage?: string;
  /** Online, GuestAgent, NoGuestAgent, Paused ...; unknown values are kept as information. */
  indications: string[];
  includedVolumes?: string[];
  /** The VirtualMachineSnapshotContent holding the VM's copy. */
  contentName?: string;
}

export function viewSnapshot(object: unknown): SnapshotView {
  const snapshot = parseObject(snapshotStatusSchema, 'VirtualMachineSnapshot', object);
  const status = snapshot.status ?? {};
  const failure = status.conditions?.find((c) => c.type === 'Failure' && c.status === 'True');
  const indications = status.sourceIndications?.map((i) => i.indication) ?? status.indications ?? [];
  const phase = status.phase ?? '';
  return {
    name: snapshot.metadata.name,
    phase,
    readyToUse: status.readyToUse === true,
    failed: phase === 'Failed' || failure !== undefined,
    errorMessage: status.error?.message ?? failure?.message,
    indications,
    includedVolumes: status.snapshotVolumes?.includedVolumes,
    contentName: status.virtualMachineSnapshotContentName,
  };
}
