// The ServerImage reconciler on the real control plane, the real registry (read back
// with crane and imported by CDI's real importer) and the KubeVirt simulator with
// KubeVirt's real export server: from a VirtualMachine to an Active image.
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM, VM_SNAPSHOT } from '../harness/kubevirt/api.js';
import {
  SERVERIMAGE,
  conditionOf,
  createServerImage,
  createVm,
  serverImage,
  waitForPhase,
  serverImageTestFile,
} from './serverimage-fixtures.js';
import { expectVmImaged, imageOf } from './serverimage-reconciler-cases.js';

const file = serverImageTestFile({ namespace: 'si', checkNothingLeftBehind: true });

describe('a VM becomes an Active image with its exact bytes', () => {
  test.each([
    ['a running VM with a guest agent', 'run-agent', { agent: true }, ['Online', 'GuestAgent'], 'Running'],
    ['a running VM without an agent', 'run-noagent', {}, ['Online', 'NoGuestAgent'], 'Running'],
    ['a stopped VM', 'stopped', { runStrategy: 'Halted' as const }, [], 'Stopped'],
    ['a paused VM', 'paused', { paused: true, agent: true }, ['Online', 'Paused'], 'Paused'],
  ])('%s', async (_what, vm, options, indications, state) => {
    await expectVmImaged(file.bed, file.ns, vm, options, indications, state);
  });
});

test('a two-volume VM gives two images, the boot disk under the tag', async () => {
  const { si, shas } = await imageOf(file.bed, file.ns, 'two-disks', {
    disks: [
      { volume: 'rootdisk', size: 2 * 1024 * 1024 },
      { volume: 'data', size: 1024 * 1024 },
    ],
  });
  const refs = si.status.images.map((i: { reference: string }) => i.reference);
  expect(refs).toEqual([
    `${file.registry.host}/vms/two-disks:two-disks-image`,
    `${file.registry.host}/vms/two-disks:two-disks-image-data`,
  ]);
  expect(await imageDiskSha256(file.crane, refs[0])).toBe(shas.rootdisk);
  expect(await imageDiskSha256(file.crane, refs[1])).toBe(shas.data);
});

test('a containerDisk volume is refused before anything is snapshotted', async () => {
  await createVm(file.client, file.ns, 'with-containerdisk', {
    extraVolumes: [{ name: 'scratch', containerDisk: { image: 'quay.io/containerdisks/fedora:40' } }],
  });
  await createServerImage(
    file.client,
    serverImage(file.ns, 'with-containerdisk-image', 'with-containerdisk', file.registry),
  );
  const si = await waitForPhase(file.client, file.ns, 'with-containerdisk-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('UnsupportedVolume');
  expect(conditionOf(si, 'Ready')?.message).toContain('scratch');
  expect(await file.client.get(VM_SNAPSHOT, file.ns, 'with-containerdisk-image')).toBeUndefined();
  expect(conditionOf(si, 'Snapshotted')).toBeUndefined();
});

test('a missing VM ends in ServerNotFound after the wait', async () => {
  await createServerImage(file.client, serverImage(file.ns, 'no-vm-image', 'no-such-vm', file.registry));
  const queued = await waitForPhase(file.client, file.ns, 'no-vm-image', 'Queued');
  expect(conditionOf(queued, 'Ready')?.reason).toBe('WaitingForServer');
  expect(conditionOf(queued, 'Reconciling')).toEqual(
    expect.objectContaining({ status: 'True', reason: 'WaitingForServer' }),
  );
  const si = await waitForPhase(file.client, file.ns, 'no-vm-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('ServerNotFound');
  expect(conditionOf(si, 'Stalled')).toEqual(
    expect.objectContaining({ status: 'True', reason: 'ServerNotFound' }),
  );
  expect(conditionOf(si, 'Reconciling')).toBeUndefined();
});

test('a VM that appears within the wait is imaged', async () => {
  await createServerImage(file.client, serverImage(file.ns, 'late-vm-image', 'late-vm', file.registry));
  await waitForPhase(file.client, file.ns, 'late-vm-image', 'Queued');
  await createVm(file.client, file.ns, 'late-vm');
  await waitForPhase(file.client, file.ns, 'late-vm-image', 'Active');
});

test('a Migrating VM that becomes Running in time is imaged', async () => {
  await createVm(file.client, file.ns, 'migrating', { annotations: { [Ann.printableStatus]: 'Migrating' } });
  await createServerImage(file.client, serverImage(file.ns, 'migrating-image', 'migrating', file.registry));
  const queued = await waitForPhase(file.client, file.ns, 'migrating-image', 'Queued');
  expect(conditionOf(queued, 'Ready')?.reason).toBe('WaitingForServerState');
  await file.client.patch(VM, file.ns, 'migrating', {
    metadata: { annotations: { [Ann.printableStatus]: null } },
  });
  await waitForPhase(file.client, file.ns, 'migrating-image', 'Active');
});

test('a VM shown Stopped with runStrategy Always is about to start: waited for, imaged Running', async () => {
  // virt-controller shows a VM Stopped until it has asked for its VMI (seen on the real
  // controller right after the VM's DataVolume became ready): not a state to image.
  await createVm(file.client, file.ns, 'starting', { annotations: { [Ann.printableStatus]: 'Stopped' } });
  await createServerImage(file.client, serverImage(file.ns, 'starting-image', 'starting', file.registry));
  const queued = await waitForPhase(file.client, file.ns, 'starting-image', 'Queued');
  expect(conditionOf(queued, 'Ready')).toMatchObject({
    reason: 'WaitingForServerState',
    message: expect.stringContaining('Stopped with runStrategy Always (about to start)'),
  });
  await file.client.patch(VM, file.ns, 'starting', {
    metadata: { annotations: { [Ann.printableStatus]: null } },
  });
  const si = await waitForPhase(file.client, file.ns, 'starting-image', 'Active');
  expect(si.status.server).toEqual(expect.objectContaining({ statusAtRequest: 'Running', restored: true }));
});

test('a VM stuck Migrating ends in InvalidServerState', async () => {
  await createVm(file.client, file.ns, 'stuck', { annotations: { [Ann.printableStatus]: 'Migrating' } });
  await createServerImage(file.client, serverImage(file.ns, 'stuck-image', 'stuck', file.registry));
  const si = await waitForPhase(file.client, file.ns, 'stuck-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('InvalidServerState');
  expect(conditionOf(si, 'Ready')?.message).toContain('Migrating');
});

test('two images of one VM run one after the other', async () => {
  await createVm(file.client, file.ns, 'twice');
  await createServerImage(file.client, serverImage(file.ns, 'twice-a', 'twice', file.registry));
  await createServerImage(file.client, serverImage(file.ns, 'twice-b', 'twice', file.registry));
  const phases = new Set<string>();
  const reasonsOfB = new Set<string>();
  const watcher = setInterval(() => {
    void Promise.all([
      file.client.get(SERVERIMAGE, file.ns, 'twice-a'),
      file.client.get(SERVERIMAGE, file.ns, 'twice-b'),
    ]).then(([a, b]) => {
      phases.add(`${a?.status?.phase}/${b?.status?.phase}`);
      if (b) reasonsOfB.add(conditionOf(b, 'Ready')?.reason ?? '');
    });
  }, 20);
  try {
    await waitForPhase(file.client, file.ns, 'twice-a', 'Active');
    await waitForPhase(file.client, file.ns, 'twice-b', 'Active');
  } finally {
    clearInterval(watcher);
  }
  expect(phases.has('Saving/Saving')).toBe(false);
  expect(reasonsOfB.has('WaitingForOtherImage')).toBe(true);
});
