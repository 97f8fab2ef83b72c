import { selectVolumes, volumeTag } from '../../../src/controllers/serverimage/volume-selection.js';
import type { StorageLookup } from '../../../src/kubevirt/storage.js';
import { viewVirtualMachine } from '../../../src/kubevirt/virtual-machine.js';

function vm(volumes: object[], statuses: object[], disks: object[] = []) {
  return viewVirtualMachine({
    metadata: { name: 'web-01', namespace: 'prod', uid: 'u1' },
    spec: { template: { spec: { domain: { devices: { disks } }, volumes } } },
    status: { printableStatus: 'Running', volumeSnapshotStatuses: statuses },
  });
}

const pvc = (name: string, claimName = `${name}-pvc`) => ({ name, persistentVolumeClaim: { claimName } });
const enabled = (name: string) => ({ name, enabled: true });

test('every disk, boot disk first, configuration volumes left out', () => {
  const view = vm(
    [
      pvc('data'),
      { name: 'cloudinit', cloudInitNoCloud: {} },
      { name: 'root', dataVolume: { name: 'root-dv' } },
    ],
    [enabled('data'), { name: 'cloudinit', enabled: false, reason: 'not supported' }, enabled('root')],
    [{ name: 'data' }, { name: 'root', bootOrder: 1 }],
  );
  expect(selectVolumes(view)).toEqual({
    kind: 'selected',
    volumes: [
      { name: 'root', claimName: 'root-dv' },
      { name: 'data', claimName: 'data-pvc' },
    ],
  });
});

test('a containerDisk is refused with KubeVirt reason', () => {
  const view = vm(
    [pvc('root'), { name: 'scratch', containerDisk: { image: 'x' } }],
    [
      enabled('root'),
      {
        name: 'scratch',
        enabled: false,
        reason: 'Snapshot is not supported for this volumeSource type [scratch]',
      },
    ],
  );
  const selection = selectVolumes(view);
  expect(selection.kind).toBe('unsupported');
  expect(selection.kind === 'unsupported' && selection.message).toContain(
    'scratch (Snapshot is not supported',
  );
});

test('requested volumes only, and an unknown name refused', () => {
  const view = vm([pvc('root'), pvc('data')], [enabled('root'), enabled('data')]);
  expect(selectVolumes(view, ['data'])).toEqual({
    kind: 'selected',
    volumes: [{ name: 'data', claimName: 'data-pvc' }],
  });
  expect(selectVolumes(view, ['nope'])).toEqual({
    kind: 'unsupported',
    message: 'VirtualMachine web-01 has no volume nope',
  });
});

/** PVCs and DataVolumes as the informers hold them. */
function storage(
  pvcs: Record<string, string>,
  dataVolumes?: Record<string, { phase: string; progress?: string; message?: string }>,
): StorageLookup {
  return {
    pvc: (_ns, name) =>
      pvcs[name] === undefined ? undefined : { metadata: { name }, status: { phase: pvcs[name] } },
    dataVolume: dataVolumes
      ? (_ns, name) => {
          const dv = dataVolumes[name];
          if (!dv) return undefined;
          const conditions = dv.message ? [{ type: 'Running', status: 'False', message: dv.message }] : [];
          return { metadata: { name }, status: { phase: dv.phase, progress: dv.progress, conditions } };
        }
      : undefined,
  };
}

test('waits while KubeVirt has not judged the volumes', () => {
  const selection = selectVolumes(vm([pvc('root')], []), undefined, storage({ 'root-pvc': 'Bound' }));
  expect(selection).toEqual({
    kind: 'waiting',
    message: 'KubeVirt to report that root can be snapshotted',
  });
});

test('a PVC not created yet is waited for, not refused, even when KubeVirt says "PVC not found"', () => {
  const view = vm([pvc('root')], [{ name: 'root', enabled: false, reason: 'PVC not found' }]);
  expect(selectVolumes(view, undefined, storage({}))).toEqual({
    kind: 'waiting',
    message: 'volume root: PersistentVolumeClaim root-pvc not found',
  });
  expect(selectVolumes(view, undefined, storage({ 'root-pvc': 'Pending' }))).toEqual({
    kind: 'waiting',
    message: 'volume root: PersistentVolumeClaim root-pvc is Pending',
  });
  // Bound now, KubeVirt still behind: wait for its verdict.
  expect(selectVolumes(view, undefined, storage({ 'root-pvc': 'Bound' }))).toEqual({
    kind: 'waiting',
    message: 'KubeVirt to report that root (KubeVirt says: PVC not found) can be snapshotted',
  });
  const judged = vm([pvc('root')], [enabled('root')]);
  expect(selectVolumes(judged, undefined, storage({ 'root-pvc': 'Bound' })).kind).toBe('selected');
});

test('a DataVolume is waited for until CDI reports Succeeded, with its progress', () => {
  const view = vm([{ name: 'root', dataVolume: { name: 'root-dv' } }], [enabled('root')]);
  const bound = { 'root-dv': 'Bound' };
  expect(selectVolumes(view, undefined, storage({}, {}))).toEqual({
    kind: 'waiting',
    message: 'volume root: DataVolume root-dv not found',
  });
  // Its PVC without the DataVolume: CDI garbage-collected it after success; KubeVirt uses the PVC.
  expect(selectVolumes(view, undefined, storage(bound, {})).kind).toBe('selected');
  expect(
    selectVolumes(
      view,
      undefined,
      storage(bound, { 'root-dv': { phase: 'ImportInProgress', progress: '45.20%' } }),
    ),
  ).toEqual({
    kind: 'waiting',
    message: 'volume root: DataVolume root-dv is ImportInProgress (45.20%)',
  });
  expect(
    selectVolumes(
      view,
      undefined,
      storage({}, { 'root-dv': { phase: 'Pending', message: 'PVC root-dv Pending' } }),
    ),
  ).toEqual({
    kind: 'waiting',
    message: 'volume root: DataVolume root-dv is Pending (PVC root-dv Pending)',
  });
  // Succeeded, but its PVC not in the cache yet.
  expect(selectVolumes(view, undefined, storage({}, { 'root-dv': { phase: 'Succeeded' } })).kind).toBe(
    'waiting',
  );
  expect(selectVolumes(view, undefined, storage(bound, { 'root-dv': { phase: 'Succeeded' } }))).toEqual({
    kind: 'selected',
    volumes: [{ name: 'root', claimName: 'root-dv' }],
  });
  // Without CDI (no DataVolume kind served) the PVC alone decides.
  expect(selectVolumes(view, undefined, storage(bound)).kind).toBe('selected');
});

test('never-snapshottable volumes are refused at once, whatever the storage says', () => {
  const noClass = vm(
    [pvc('root')],
    [
      {
        name: 'root',
        enabled: false,
        reason:
          'No VolumeSnapshotClass: Volume snapshots are not configured for this StorageClass [sc] [root]',
      },
    ],
  );
  expect(selectVolumes(noClass, undefined, storage({ 'root-pvc': 'Bound' })).kind).toBe('unsupported');
  const scratch = vm([pvc('root'), { name: 'scratch', emptyDisk: { capacity: '1Gi' } }], [enabled('root')]);
  expect(selectVolumes(scratch, undefined, storage({})).kind).toBe('unsupported');
});

test('in Saving (no storage given) the volumes chosen in Queued are kept', () => {
  expect(selectVolumes(vm([pvc('root')], []))).toEqual({
    kind: 'selected',
    volumes: [{ name: 'root', claimName: 'root-pvc' }],
  });
});

test('tags: boot volume under the tag, others suffixed', () => {
  expect(volumeTag('nightly', 0, 'root')).toBe('nightly');
  expect(volumeTag('nightly', 1, 'data')).toBe('nightly-data');
});
