// A VM in an imageable state that KubeVirt is about to start: virt-controller shows
// Stopped for a VM with runStrategy Always until it has asked for its VMI (seen on the
// real controller right after the VM's DataVolume became ready).
import {
  isAboutToStart,
  isWaitingForVolume,
  viewVirtualMachine,
} from '../../../src/kubevirt/virtual-machine.js';

const vm = (spec: object, printableStatus: string) =>
  viewVirtualMachine({
    metadata: { name: 'web-01', namespace: 'prod', uid: 'u1' },
    spec,
    status: { printableStatus },
  });

test.each([
  [{ runStrategy: 'Always' }, 'Stopped', true],
  [{ running: true }, 'Stopped', true],
  [{ runStrategy: 'Always' }, 'Running', false],
  // Stopped stays stopped: halted, started by hand, or finished and not to be rerun.
  [{ runStrategy: 'Halted' }, 'Stopped', false],
  [{ running: false }, 'Stopped', false],
  [{ runStrategy: 'Manual' }, 'Stopped', false],
  [{ runStrategy: 'RerunOnFailure' }, 'Stopped', false],
  [{}, 'Stopped', false],
])('%j shown %s: about to start %s', (spec, status, expected) => {
  expect(isAboutToStart(vm(spec, status))).toBe(expected);
});

test('the legacy spec.running reads as a run strategy', () => {
  expect(vm({ running: true }, 'Running').runStrategy).toBe('Always');
  expect(vm({ running: false }, 'Stopped').runStrategy).toBe('Halted');
  expect(vm({}, 'Stopped').runStrategy).toBeUndefined();
});

// A runStrategy Always VM whose PVC is not there yet: the real virt-controller shows
// ErrorPvcNotFound, and the operator reports the volume it waits for, not the state.
test.each([
  ['ErrorPvcNotFound', true],
  ['WaitingForVolumeBinding', true],
  ['Starting', false],
  ['DataVolumeError', false],
  ['Running', false],
])('%s waits for a volume: %s', (status, expected) => {
  expect(isWaitingForVolume(status)).toBe(expected);
});

// A VM deleted while a snapshot has it locked stays, with a deletionTimestamp, until the
// snapshot is done (KubeVirt's snapshot-source-protection finalizer): the operator treats
// it as deleted (ServerDeleted) instead of waiting on it.
test('a VM with a deletionTimestamp reads as being deleted', () => {
  const base = { metadata: { name: 'web-01', namespace: 'prod', uid: 'u1' }, spec: {} };
  expect(viewVirtualMachine(base).deleting).toBe(false);
  expect(
    viewVirtualMachine({
      ...base,
      metadata: {
        ...base.metadata,
        deletionTimestamp: '2026-12-01T20:50:46Z',
        finalizers: ['snapshot.kubevirt.io/snapshot-source-protection'],
      },
    }).deleting,
  ).toBe(true);
});

// A VM created a moment ago has no status yet: "Unknown" would read as KubeVirt's own
// Unknown state (a VMI whose node stopped reporting); the view tells the two apart.
test('a VM KubeVirt has not written a status for yet is told apart from its Unknown state', () => {
  const fresh = viewVirtualMachine({ metadata: { name: 'web-01', namespace: 'prod', uid: 'u1' }, spec: {} });
  expect({ state: fresh.printableStatus, reported: fresh.stateReported }).toEqual({
    state: 'Unknown',
    reported: false,
  });
  expect(vm({}, 'Unknown').stateReported).toBe(true);
});

// virt-controller's words, as it wrote them on the real bed for a VM whose spec conflicts
// with its instancetype (test/integration/restore.test.ts).
test("KubeVirt's Failure condition is read with its reason and message; a False one is not a failure", () => {
  const withConditions = (conditions: object[]) =>
    viewVirtualMachine({
      metadata: { name: 'web-01', namespace: 'prod', uid: 'u1' },
      spec: {},
      status: { printableStatus: 'Stopped', conditions },
    });
  const message =
    'error encountered while storing instancetype.kubevirt.io controllerRevisions: VM field(s) spec.template.spec.domain.cpu.sockets conflicts with selected instance type';
  expect(
    withConditions([
      { type: 'Ready', status: 'False', reason: 'VMINotExists' },
      { type: 'Failure', status: 'True', reason: 'FailedCreate', message },
    ]).failure,
  ).toBe(`FailedCreate: ${message}`);
  expect(
    withConditions([{ type: 'Failure', status: 'False', reason: 'FailedCreate' }]).failure,
  ).toBeUndefined();
  expect(withConditions([]).failure).toBeUndefined();
});
