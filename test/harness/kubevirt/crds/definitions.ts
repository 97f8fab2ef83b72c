// The CustomResourceDefinitions KubeVirt, its snapshot/export controllers and the CSI
// snapshotter install, as far as the simulator needs them. Schemas are loose
// (x-kubernetes-preserve-unknown-fields): the simulator and the operator, not the
// API server, give the fields meaning. Group, kinds, plurals, short names, scope,
// served/storage versions and the status subresource match the real ones, because
// the operator depends on those (discovery, /status writes, kubectl names).
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';

interface Kind {
  group: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames?: string[];
  categories?: string[];
  /** First entry is the storage version. */
  versions: string[];
  printerColumns?: Array<{ name: string; type: string; jsonPath: string }>;
  /** *.k8s.io groups need this; the value is the external-snapshotter's own. */
  apiApproved?: string;
}

// client-node's model names the field x_kubernetes_preserve_unknown_fields and serialises
// it as x-kubernetes-preserve-unknown-fields (a raw key would be dropped).
const looseSchema = {
  openAPIV3Schema: {
    type: 'object',
    properties: {
      spec: { type: 'object', x_kubernetes_preserve_unknown_fields: true },
      status: { type: 'object', x_kubernetes_preserve_unknown_fields: true },
    },
    x_kubernetes_preserve_unknown_fields: true,
  },
};

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function crd(k: Kind): V1CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${k.plural}.${k.group}`,
      annotations: k.apiApproved ? { 'api-approved.kubernetes.io': k.apiApproved } : undefined,
    },
    spec: {
      group: k.group,
      scope: 'Namespaced',
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.singular,
        shortNames: k.shortNames,
        categories: k.categories,
      },
      versions: k.versions.map((name, i) => ({
        name,
        served: true,
        storage: i === 0,
        schema: looseSchema,
        subresources: { status: {} },
        additionalPrinterColumns: [...(k.printerColumns ?? []), age],
      })),
    },
  };
}

export const virtualMachineCrd = crd({
  group: 'kubevirt.io',
  kind: 'VirtualMachine',
  plural: 'virtualmachines',
  singular: 'virtualmachine',
  shortNames: ['vm', 'vms'],
  categories: ['all'],
  versions: ['v1'],
  printerColumns: [
    { name: 'Status', type: 'string', jsonPath: '.status.printableStatus' },
    { name: 'Ready', type: 'string', jsonPath: ".status.conditions[?(@.type=='Ready')].status" },
  ],
});

export const virtualMachineSnapshotCrd = crd({
  group: 'snapshot.kubevirt.io',
  kind: 'VirtualMachineSnapshot',
  plural: 'virtualmachinesnapshots',
  singular: 'virtualmachinesnapshot',
  shortNames: ['vmsnapshot', 'vmsnapshots'],
  categories: ['all'],
  versions: ['v1beta1', 'v1alpha1'],
  printerColumns: [
    { name: 'SourceKind', type: 'string', jsonPath: '.spec.source.kind' },
    { name: 'SourceName', type: 'string', jsonPath: '.spec.source.name' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'ReadyToUse', type: 'boolean', jsonPath: '.status.readyToUse' },
  ],
});

export const virtualMachineSnapshotContentCrd = crd({
  group: 'snapshot.kubevirt.io',
  kind: 'VirtualMachineSnapshotContent',
  plural: 'virtualmachinesnapshotcontents',
  singular: 'virtualmachinesnapshotcontent',
  shortNames: ['vmsnapshotcontent', 'vmsnapshotcontents'],
  categories: ['all'],
  versions: ['v1beta1', 'v1alpha1'],
  printerColumns: [{ name: 'ReadyToUse', type: 'boolean', jsonPath: '.status.readyToUse' }],
});

// KubeVirt 1.9 stores v1 and still serves v1beta1; the operator must discover which one to use.
export const virtualMachineExportCrd = crd({
  group: 'export.kubevirt.io',
  kind: 'VirtualMachineExport',
  plural: 'virtualmachineexports',
  singular: 'virtualmachineexport',
  shortNames: ['vmexport', 'vmexports'],
  categories: ['all'],
  versions: ['v1', 'v1beta1'],
  printerColumns: [
    { name: 'SourceKind', type: 'string', jsonPath: '.spec.source.kind' },
    { name: 'SourceName', type: 'string', jsonPath: '.spec.source.name' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  ],
});

export const volumeSnapshotCrd = crd({
  group: 'snapshot.storage.k8s.io',
  kind: 'VolumeSnapshot',
  plural: 'volumesnapshots',
  singular: 'volumesnapshot',
  shortNames: ['vs'],
  versions: ['v1'],
  apiApproved: 'https://github.com/kubernetes-csi/external-snapshotter/pull/814',
  printerColumns: [
    { name: 'ReadyToUse', type: 'boolean', jsonPath: '.status.readyToUse' },
    { name: 'SourcePVC', type: 'string', jsonPath: '.spec.source.persistentVolumeClaimName' },
  ],
});

export const kubevirtCrds: V1CustomResourceDefinition[] = [
  virtualMachineCrd,
  virtualMachineSnapshotCrd,
  virtualMachineSnapshotContentCrd,
  virtualMachineExportCrd,
  volumeSnapshotCrd,
];
