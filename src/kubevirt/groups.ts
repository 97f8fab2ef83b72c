// The KubeVirt API groups and kinds we talk to. Export's version is discovered at run
// time (v1 from KubeVirt 1.9, v1beta1 before); the others are fixed.
export const VIRTUAL_MACHINE = {
  group: 'kubevirt.io',
  version: 'v1',
  plural: 'virtualmachines',
  kind: 'VirtualMachine',
};
// Only the throw-away VMIs that verify an image by booting it (spec.verify.boot).
export const VIRTUAL_MACHINE_INSTANCE = {
  group: 'kubevirt.io',
  version: 'v1',
  plural: 'virtualmachineinstances',
  kind: 'VirtualMachineInstance',
};

export const VIRTUAL_MACHINE_SNAPSHOT = {
  group: 'snapshot.kubevirt.io',
  version: 'v1beta1',
  plural: 'virtualmachinesnapshots',
  kind: 'VirtualMachineSnapshot',
};
export const VIRTUAL_MACHINE_SNAPSHOT_CONTENT = {
  group: 'snapshot.kubevirt.io',
  version: 'v1beta1',
  plural: 'virtualmachinesnapshotcontents',
  kind: 'VirtualMachineSnapshotContent',
};
export const EXPORT_GROUP = 'export.kubevirt.io';
export const EXPORT_PLURAL = 'virtualmachineexports';
export const EXPORT_KIND = 'VirtualMachineExport';
