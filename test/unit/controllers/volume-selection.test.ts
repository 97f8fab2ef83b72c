import { selectVolumes, volumeTag } from '../../../src/controllers/serverimage/volume-selection.js';
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

test('waits while KubeVirt has not judged the volumes', () => {
  expect(selectVolumes(vm([pvc('root')], [])).kind).toBe('unknown');
});

test('tags: boot volume under the tag, others suffixed', () => {
  expect(volumeTag('nightly', 0, 'root')).toBe('nightly');
  expect(volumeTag('nightly', 1, 'data')).toBe('nightly-data');
});
