// The ServerImage reconciler on the real control plane, the real registry (read back
// with crane and imported by CDI's real importer) and the KubeVirt simulator with
// KubeVirt's real export server: from a VirtualMachine to an Active image.
import { type Crane } from '../harness/crane.js';
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM, VM_SNAPSHOT } from '../harness/kubevirt/api.js';
import { SimTestClient } from '../harness/kubevirt/testing.js';
import { type TestRegistry } from '../harness/registry.js';
import { createNamespace } from '../harness/testbed.js';
import {
  SERVERIMAGE,
  conditionOf,
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  waitForPhase,
  startServerImageBed,
  type ServerImageBed,
} from './serverimage-fixtures.js';
import { expectVmImaged, imageOf } from './serverimage-reconciler-cases.js';

let bed: ServerImageBed;
let registry: TestRegistry;
let crane: Crane;
let client: SimTestClient;
let ns: string;

beforeAll(async () => {
  bed = await startServerImageBed();
  ({ registry, crane, client } = bed);
  ns = await createNamespace('si');
});

afterAll(() => bed?.stop());

afterEach(async () => {
  await expectNothingLeftBehind(client, ns, [registry]);
});

describe('a VM becomes an Active image with its exact bytes', () => {
  test.each([
    ['a running VM with a guest agent', 'run-agent', { agent: true }, ['Online', 'GuestAgent'], 'Running'],
    ['a running VM without an agent', 'run-noagent', {}, ['Online', 'NoGuestAgent'], 'Running'],
    ['a stopped VM', 'stopped', { runStrategy: 'Halted' as const }, [], 'Stopped'],
    ['a paused VM', 'paused', { paused: true, agent: true }, ['Online', 'Paused'], 'Paused'],
  ])('%s', async (_what, vm, options, indications, state) => {
    await expectVmImaged(bed, ns, vm, options, indications, state);
  });
});

test('a two-volume VM gives two images, the boot disk under the tag', async () => {
  const { si, shas } = await imageOf(bed, ns, 'two-disks', {
    disks: [
      { volume: 'rootdisk', size: 2 * 1024 * 1024 },
      { volume: 'data', size: 1024 * 1024 },
    ],
  });
  const refs = si.status.images.map((i: { reference: string }) => i.reference);
  expect(refs).toEqual([
    `${registry.host}/vms/two-disks:two-disks-image`,
    `${registry.host}/vms/two-disks:two-disks-image-data`,
  ]);
  expect(await imageDiskSha256(crane, refs[0])).toBe(shas.rootdisk);
  expect(await imageDiskSha256(crane, refs[1])).toBe(shas.data);
});

test('a containerDisk volume is refused before anything is snapshotted', async () => {
  await createVm(client, ns, 'with-containerdisk', {
    extraVolumes: [{ name: 'scratch', containerDisk: { image: 'quay.io/containerdisks/fedora:40' } }],
  });
  await createServerImage(
    client,
    serverImage(ns, 'with-containerdisk-image', 'with-containerdisk', registry),
  );
  const si = await waitForPhase(client, ns, 'with-containerdisk-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('UnsupportedVolume');
  expect(conditionOf(si, 'Ready')?.message).toContain('scratch');
  expect(await client.get(VM_SNAPSHOT, ns, 'with-containerdisk-image')).toBeUndefined();
  expect(conditionOf(si, 'Snapshotted')).toBeUndefined();
});

test('a missing VM ends in ServerNotFound after the wait', async () => {
  await createServerImage(client, serverImage(ns, 'no-vm-image', 'no-such-vm', registry));
  const queued = await waitForPhase(client, ns, 'no-vm-image', 'Queued');
  expect(conditionOf(queued, 'Ready')?.reason).toBe('WaitingForServer');
  expect(conditionOf(queued, 'Reconciling')).toEqual(
    expect.objectContaining({ status: 'True', reason: 'WaitingForServer' }),
  );
  const si = await waitForPhase(client, ns, 'no-vm-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('ServerNotFound');
  expect(conditionOf(si, 'Stalled')).toEqual(
    expect.objectContaining({ status: 'True', reason: 'ServerNotFound' }),
  );
  expect(conditionOf(si, 'Reconciling')).toBeUndefined();
});

test('a VM that appears within the wait is imaged', async () => {
  await createServerImage(client, serverImage(ns, 'late-vm-image', 'late-vm', registry));
  await waitForPhase(client, ns, 'late-vm-image', 'Queued');
  await createVm(client, ns, 'late-vm');
  await waitForPhase(client, ns, 'late-vm-image', 'Active');
});

test('a Migrating VM that becomes Running in time is imaged', async () => {
  await createVm(client, ns, 'migrating', { annotations: { [Ann.printableStatus]: 'Migrating' } });
  await createServerImage(client, serverImage(ns, 'migrating-image', 'migrating', registry));
  const queued = await waitForPhase(client, ns, 'migrating-image', 'Queued');
  expect(conditionOf(queued, 'Ready')?.reason).toBe('WaitingForServerState');
  await client.patch(VM, ns, 'migrating', { metadata: { annotations: { [Ann.printableStatus]: null } } });
  await waitForPhase(client, ns, 'migrating-image', 'Active');
});

test('a VM stuck Migrating ends in InvalidServerState', async () => {
  await createVm(client, ns, 'stuck', { annotations: { [Ann.printableStatus]: 'Migrating' } });
  await createServerImage(client, serverImage(ns, 'stuck-image', 'stuck', registry));
  const si = await waitForPhase(client, ns, 'stuck-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('InvalidServerState');
  expect(conditionOf(si, 'Ready')?.message).toContain('Migrating');
});

test('two images of one VM run one after the other', async () => {
  await createVm(client, ns, 'twice');
  await createServerImage(client, serverImage(ns, 'twice-a', 'twice', registry));
  await createServerImage(client, serverImage(ns, 'twice-b', 'twice', registry));
  const phases = new Set<string>();
  const reasonsOfB = new Set<string>();
  const watcher = setInterval(() => {
    void Promise.all([client.get(SERVERIMAGE, ns, 'twice-a'), client.get(SERVERIMAGE, ns, 'twice-b')]).then(
      ([a, b]) => {
        phases.add(`${a?.status?.phase}/${b?.status?.phase}`);
        if (b) reasonsOfB.add(conditionOf(b, 'Ready')?.reason ?? '');
      },
    );
  }, 20);
  try {
    await waitForPhase(client, ns, 'twice-a', 'Active');
    await waitForPhase(client, ns, 'twice-b', 'Active');
  } finally {
    clearInterval(watcher);
  }
  expect(phases.has('Saving/Saving')).toBe(false);
  expect(reasonsOfB.has('WaitingForOtherImage')).toBe(true);
});
