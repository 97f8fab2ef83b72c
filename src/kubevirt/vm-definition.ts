// The VM definition an image carries, for a restore: the VirtualMachine as KubeVirt copied it
// into the VirtualMachineSnapshotContent (spec.source.virtualMachine), without what ties it
// to one cluster. MAC addresses and the firmware UUID stay (a restore in place of the
// original needs them); `serverimage restore --new-identity` clears them.
import { z } from 'zod';
import { parseObject } from './parse.js';

/** Metadata the API server or a controller owns: meaningless, or wrong, in another cluster. */
const CLUSTER_METADATA = [
  'uid',
  'resourceVersion',
  'managedFields',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generation',
  'ownerReferences',
  'finalizers',
  'selfLink',
] as const;

/** Annotations KubeVirt and kubectl write for themselves, not the VM's owner. */
const CLUSTER_ANNOTATIONS = [
  'kubectl.kubernetes.io/last-applied-configuration',
  'kubevirt.io/latest-observed-api-version',
  'kubevirt.io/storage-observed-api-version',
];

export interface VmDefinition {
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: Record<string, unknown>;
}

const contentSchema = z.looseObject({
  spec: z.looseObject({
    source: z.looseObject({
      virtualMachine: z.looseObject({
        metadata: z.looseObject({ name: z.string() }),
        spec: z.looseObject({}),
      }),
    }),
  }),
});

/** spec.source.virtualMachine of a VirtualMachineSnapshotContent, cleaned of cluster identity. */
export function vmDefinitionFromContent(content: unknown): VmDefinition {
  const parsed = parseObject(contentSchema, 'VirtualMachineSnapshotContent', content);
  return cleanVm(parsed.spec.source.virtualMachine);
}

export function cleanVm(vm: {
  metadata: Record<string, unknown>;
  spec: Record<string, unknown>;
}): VmDefinition {
  const metadata = structuredClone(vm.metadata) as Record<string, unknown>;
  for (const key of CLUSTER_METADATA) delete metadata[key];
  const annotations = { ...(metadata.annotations as Record<string, string> | undefined) };
  for (const key of CLUSTER_ANNOTATIONS) delete annotations[key];
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  else delete metadata.annotations;
  if (metadata.labels && Object.keys(metadata.labels).length === 0) delete metadata.labels;
  // No status: it is the old VM's, and a restored VM gets its own.
  return { metadata: metadata as VmDefinition['metadata'], spec: structuredClone(vm.spec) };
}

interface Matcher {
  name?: string;
  kind?: string;
}

/**
 * The containerdisks hints for a VM's instancetype and preference, as kubevirt/containerdisks
 * writes them into the image config (Env, and Labels under the label names). CDI's importer
 * reads the Env entries (`*_KUBEVIRT_IO_*`, chosen over labels because a node pull sees only
 * the environment) and labels the imported PVC with them.
 */
export function instancetypeHints(spec: Record<string, unknown>): Record<string, string> {
  const hints: Record<string, string> = {};
  const add = (what: 'instancetype' | 'preference', matcher: Matcher | undefined) => {
    if (!matcher?.name) return;
    hints[`instancetype.kubevirt.io/default-${what}`] = matcher.name;
    if (matcher.kind) hints[`instancetype.kubevirt.io/default-${what}-kind`] = matcher.kind;
  };
  add('instancetype', spec.instancetype as Matcher | undefined);
  add('preference', spec.preference as Matcher | undefined);
  return hints;
}
