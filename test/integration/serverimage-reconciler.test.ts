// The ServerImage reconciler on the real control plane, the real registry (read back
// with crane and imported by CDI's real importer) and the KubeVirt simulator with
// KubeVirt's real export server: from a VirtualMachine to an Active image.
import { importWithCdi } from '../harness/cdi-importer.js';
import { importedDisk, imageDiskSha256 } from '../harness/images.js';
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

const file = serverImageTestFile({ namespace: 'si', checkNothingLeftBehind: true });

const DISK_BYTES = 3 * 1024 * 1024;

/** The image through CDI's registry import, as a DataVolume would get it: the VM's bytes, then zeros. */
async function expectCdiImportsTheDisk(reference: string, sha256: string) {
  // A PVC twice the disk's size: it fits after CDI's 5.5% file-system overhead, and
  // CDI grows the disk to the usable size, so the zero padding is checked too.
  const run = await importWithCdi({ reference, insecure: true, sizeBytes: 2 * DISK_BYTES });
  try {
    expect({ succeeded: run.succeeded, message: run.message }).toEqual({
      succeeded: true,
      message: expect.stringContaining('"message":"Import Complete"'),
    });
    const disk = await importedDisk(run.diskFile, DISK_BYTES);
    expect(disk).toEqual({ size: expect.any(Number), sha256, zeroTail: true });
    expect(disk.size).toBeGreaterThan(DISK_BYTES);
  } finally {
    run.cleanup();
  }
}

async function imageOf(vm: string, options: Parameters<typeof createVm>[3], name = `${vm}-image`) {
  const shas = await createVm(file.client, file.ns, vm, options);
  await createServerImage(
    file.client,
    serverImage(file.ns, name, vm, file.registry, { metadata: { os_distro: 'fedora' } }),
  );
  const si = await waitForPhase(file.client, file.ns, name, 'Active');
  return { si, shas };
}

describe('a VM becomes an Active image with its exact bytes', () => {
  test.each([
    ['a running VM with a guest agent', 'run-agent', { agent: true }, ['Online', 'GuestAgent'], 'Running'],
    ['a running VM without an agent', 'run-noagent', {}, ['Online', 'NoGuestAgent'], 'Running'],
    ['a stopped VM', 'stopped', { runStrategy: 'Halted' as const }, [], 'Stopped'],
    ['a paused VM', 'paused', { paused: true, agent: true }, ['Online', 'Paused'], 'Paused'],
  ])('%s', async (_what, vm, options, indications, state) => {
    const { si, shas } = await imageOf(vm, options);
    const ref = `${file.registry.host}/vms/${vm}:${vm}-image`;
    expect(si.status.images).toEqual([
      expect.objectContaining({ volume: 'rootdisk', reference: ref, diskFormat: 'raw' }),
    ]);
    expect(await file.crane.digest(ref)).toBe(si.status.images[0].digest);
    expect(await imageDiskSha256(file.crane, ref)).toBe(shas.rootdisk);
    await expectCdiImportsTheDisk(
      `${file.registry.host}/vms/${vm}@${si.status.images[0].digest}`,
      shas.rootdisk!,
    );
    for (const indication of indications) expect(si.status.snapshot.indications).toContain(indication);
    if (indications.length === 0) expect(si.status.snapshot.indications).toEqual([]);
    expect(si.status.server).toEqual(expect.objectContaining({ statusAtRequest: state, restored: true }));
    expect(conditionOf(si, 'Ready')).toEqual(expect.objectContaining({ status: 'True', reason: 'Active' }));
    expect(conditionOf(si, 'Reconciling')).toBeUndefined();
    expect(conditionOf(si, 'Stalled')).toBeUndefined();
    expect((await file.client.get(VM, file.ns, vm))?.status.printableStatus).toBe(state);
    const manifest = (await file.crane.manifest(ref)) as { annotations: Record<string, string> };
    expect(manifest.annotations).toEqual(
      expect.objectContaining({ 'org.opencontainers.image.title': `${vm}-image` }),
    );
    expect(JSON.stringify(manifest.annotations)).toContain('fedora');
  });
});

test('a two-volume VM gives two images, the boot disk under the tag', async () => {
  const { si, shas } = await imageOf('two-disks', {
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
