// The simulated snapshot controller: VirtualMachineSnapshot, its content and
// VolumeSnapshots, indications, the VM lock, deletion and the snapshot faults.
import { existsSync } from 'node:fs';
import { sha256File } from '../harness/disks.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM, VM_SNAPSHOT, VM_SNAPSHOT_CONTENT, VOLUME_SNAPSHOT, type Obj } from '../harness/kubevirt/api.js';
import { startKubevirtSimulator, type KubevirtSimulator } from '../harness/kubevirt/simulator.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';

let sim: KubevirtSimulator;
let client: SimTestClient;
let ns: string;

beforeAll(async () => {
  sim = await startKubevirtSimulator({ kubeConfig: kubeConfig() });
  client = new SimTestClient(kubeConfig());
  ns = await createNamespace('sim-snap');
});

afterAll(async () => {
  await sim?.stop();
});

/** A VM with a disk PVC and a containerDisk; resolves once it shows `status`. */
async function vmWithDisk(
  name: string,
  opts: { runStrategy: string; annotations?: Record<string, string>; status: string },
): Promise<{ vm: Obj; sha256: string }> {
  const sha256 = await client.createDiskPvc(ns, `${name}-root`, { size: '3Mi' });
  await client.createVm(ns, name, {
    runStrategy: opts.runStrategy,
    annotations: opts.annotations,
    volumes: [
      { name: 'rootdisk', persistentVolumeClaim: { claimName: `${name}-root` } },
      { name: 'containerdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:42' } },
    ],
  });
  const vm = await client.waitFor(
    VM,
    ns,
    name,
    (o) =>
      o.status?.printableStatus === opts.status &&
      (opts.annotations?.[Ann.guestAgent] !== 'true' ||
        (o.status?.conditions ?? []).some((c: { type: string }) => c.type === 'AgentConnected')),
  );
  return { vm, sha256 };
}

function snapshotOf(name: string, vmName: string, extra: Record<string, unknown> = {}) {
  return client.create(VM_SNAPSHOT, ns, {
    metadata: { name, ...((extra.metadata as object) ?? {}) },
    spec: {
      source: { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: vmName },
      ...((extra.spec as object) ?? {}),
    },
  });
}

const phase = (p: string) => (o: Obj) => o.status?.phase === p;
const condition = (o: Obj, type: string) =>
  (o.status?.conditions ?? []).find((c: { type: string }) => c.type === type);

test('a snapshot of a running VM with a guest agent succeeds with Online and GuestAgent', async () => {
  const { vm, sha256 } = await vmWithDisk('web', {
    runStrategy: 'Always',
    annotations: { [Ann.guestAgent]: 'true' },
    status: 'Running',
  });
  const created = await snapshotOf('web-snap', 'web');
  // The VM is locked while the snapshot works.
  await client.waitFor(VM, ns, 'web', (o) => o.status?.snapshotInProgress === 'web-snap', 'locked');
  const snap = await client.waitFor(VM_SNAPSHOT, ns, 'web-snap', phase('Succeeded'));
  expect(snap.status).toMatchObject({
    readyToUse: true,
    sourceUID: vm.metadata.uid,
    virtualMachineSnapshotContentName: `vmsnapshot-content-${created.metadata.uid}`,
    indications: ['GuestAgent', 'Online'],
    snapshotVolumes: { includedVolumes: ['rootdisk'], excludedVolumes: ['containerdisk'] },
  });
  expect(snap.status.creationTime).toEqual(expect.any(String));
  expect(snap.status.sourceIndications.map((i: { indication: string }) => i.indication)).toEqual([
    'GuestAgent',
    'Online',
  ]);
  expect(condition(snap, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' });
  expect(condition(snap, 'Progressing')).toMatchObject({ status: 'False', reason: 'Operation complete' });
  expect(snap.metadata.finalizers).toContain('snapshot.kubevirt.io/vmsnapshot-protection');
  await client.waitFor(VM, ns, 'web', (o) => !o.status?.snapshotInProgress, 'unlocked');

  const content = (await client.get(VM_SNAPSHOT_CONTENT, ns, snap.status.virtualMachineSnapshotContentName))!;
  expect(content.spec.virtualMachineSnapshotName).toBe('web-snap');
  expect(content.spec.source.virtualMachine.metadata.uid).toBe(vm.metadata.uid);
  expect(content.status).toMatchObject({ readyToUse: true });
  const [backup] = content.spec.volumeBackups;
  expect(backup).toMatchObject({
    volumeName: 'rootdisk',
    persistentVolumeClaim: { metadata: { name: 'web-root' } },
    volumeSnapshotName: `vmsnapshot-${created.metadata.uid}-volume-rootdisk`,
  });
  const vs = (await client.get(VOLUME_SNAPSHOT, ns, backup.volumeSnapshotName))!;
  expect(vs.spec.source.persistentVolumeClaimName).toBe('web-root');
  expect(vs.status.readyToUse).toBe(true);
  expect(vs.metadata.ownerReferences).toEqual([
    expect.objectContaining({
      kind: 'VirtualMachineSnapshotContent',
      uid: content.metadata.uid,
      controller: true,
    }),
  ]);

  // The snapshot's bytes are frozen: the guest "writes" (new seed), the snapshot keeps the old disk.
  const vsFile = `${sim.dataDir}/volumesnapshots/${ns}/${vs.metadata.name}.${vs.metadata.uid}.img`;
  await client.patchPvc(ns, 'web-root', { metadata: { annotations: { [Ann.diskSeed]: 'rewritten' } } });
  const newSha = await client.pvcSha256(ns, 'web-root');
  expect(newSha).not.toBe(sha256);
  expect(await sha256File(sim.diskFile(ns, 'web-root')!)).toBe(newSha);
  expect(await sha256File(vsFile)).toBe(sha256);

  // Deleting the snapshot removes its content and volume snapshots (deletionPolicy Delete).
  await client.delete(VM_SNAPSHOT, ns, 'web-snap');
  await until('snapshot, content and volume snapshot gone', async () => {
    const left = await Promise.all([
      client.get(VM_SNAPSHOT, ns, 'web-snap'),
      client.get(VM_SNAPSHOT_CONTENT, ns, content.metadata.name),
      client.get(VOLUME_SNAPSHOT, ns, vs.metadata.name),
    ]);
    return left.every((o) => o === undefined);
  });
  await until('volume snapshot file removed', async () => !existsSync(vsFile));
});

test('without a guest agent the indication is NoGuestAgent', async () => {
  await vmWithDisk('noagent', { runStrategy: 'Always', status: 'Running' });
  await snapshotOf('noagent-snap', 'noagent');
  const snap = await client.waitFor(VM_SNAPSHOT, ns, 'noagent-snap', phase('Succeeded'));
  expect(snap.status.indications).toEqual(['NoGuestAgent', 'Online']);
});

test('a paused VM gives Online and Paused (no freeze)', async () => {
  await vmWithDisk('sleepy', {
    runStrategy: 'Always',
    annotations: { [Ann.guestAgent]: 'true', [Ann.paused]: 'true' },
    status: 'Paused',
  });
  await snapshotOf('sleepy-snap', 'sleepy');
  const snap = await client.waitFor(VM_SNAPSHOT, ns, 'sleepy-snap', phase('Succeeded'));
  expect(snap.status.indications).toEqual(['Online', 'Paused']);
});

test('a stopped VM gives an offline snapshot with no indications', async () => {
  await vmWithDisk('cold', { runStrategy: 'Halted', status: 'Stopped' });
  await snapshotOf('cold-snap', 'cold');
  const snap = await client.waitFor(VM_SNAPSHOT, ns, 'cold-snap', phase('Succeeded'));
  expect(snap.status.indications).toBeUndefined();
  expect(snap.status.sourceIndications).toBeUndefined();
  expect(snap.status.readyToUse).toBe(true);
});

test('deletionPolicy Retain keeps the content and its volume snapshots', async () => {
  await vmWithDisk('keep', { runStrategy: 'Halted', status: 'Stopped' });
  await snapshotOf('keep-snap', 'keep', { spec: { deletionPolicy: 'Retain' } });
  const snap = await client.waitFor(VM_SNAPSHOT, ns, 'keep-snap', phase('Succeeded'));
  await client.delete(VM_SNAPSHOT, ns, 'keep-snap');
  await until('snapshot gone', async () => (await client.get(VM_SNAPSHOT, ns, 'keep-snap')) === undefined);
  expect(
    await client.get(VM_SNAPSHOT_CONTENT, ns, snap.status.virtualMachineSnapshotContentName),
  ).toBeDefined();
});

test('fault-snapshot=fail: phase Failed with the error message and a Failure condition', async () => {
  await vmWithDisk('bad', { runStrategy: 'Always', status: 'Running' });
  await client.annotate(VM, ns, 'bad', {
    [Ann.faultSnapshot]: 'fail',
    [Ann.faultSnapshotMessage]: 'Failed freezing vm: guest agent not responding',
  });
  await snapshotOf('bad-snap', 'bad');
  const snap = await client.waitFor(VM_SNAPSHOT, ns, 'bad-snap', phase('Failed'));
  expect(snap.status.readyToUse).toBe(false);
  expect(snap.status.error.message).toBe('Failed freezing vm: guest agent not responding');
  expect(condition(snap, 'Failure')).toMatchObject({
    status: 'True',
    reason: 'Failed freezing vm: guest agent not responding',
  });
  await client.waitFor(VM, ns, 'bad', (o) => !o.status?.snapshotInProgress, 'unlocked');
});

test('fault-snapshot=hang: stays InProgress, then fails at its failureDeadline', async () => {
  await vmWithDisk('stuck', { runStrategy: 'Always', status: 'Running' });
  await snapshotOf('stuck-forever', 'stuck', { metadata: { annotations: { [Ann.faultSnapshot]: 'hang' } } });
  const hung = await client.waitFor(VM_SNAPSHOT, ns, 'stuck-forever', phase('InProgress'));
  expect(condition(hung, 'Progressing')).toMatchObject({ status: 'True' });
  expect((await client.get(VM, ns, 'stuck'))!.status.snapshotInProgress).toBe('stuck-forever');
  // Still in progress after the time a normal snapshot takes several times over.
  await new Promise((r) => setTimeout(r, 1500));
  expect((await client.get(VM_SNAPSHOT, ns, 'stuck-forever'))!.status.phase).toBe('InProgress');
  await client.delete(VM_SNAPSHOT, ns, 'stuck-forever');
  await client.waitFor(VM, ns, 'stuck', (o) => !o.status?.snapshotInProgress, 'unlocked after delete');

  await snapshotOf('stuck-deadline', 'stuck', {
    metadata: { annotations: { [Ann.faultSnapshot]: 'hang' } },
    spec: { failureDeadline: '2s' },
  });
  const failed = await client.waitFor(VM_SNAPSHOT, ns, 'stuck-deadline', phase('Failed'));
  expect(condition(failed, 'Failure')).toMatchObject({
    status: 'True',
    reason: 'snapshot deadline exceeded',
  });
});

test('fault-vm-change: the VM stops while the snapshot is being taken', async () => {
  await vmWithDisk('flaky', {
    runStrategy: 'Always',
    annotations: { [Ann.faultVmChange]: 'snapshot-start=Stopped' },
    status: 'Running',
  });
  await snapshotOf('flaky-snap', 'flaky');
  const snap = await client.waitFor(VM_SNAPSHOT, ns, 'flaky-snap', phase('Succeeded'));
  // Taken online (indications of the moment it started), but the VM did not stay up.
  expect(snap.status.indications).toContain('Online');
  const vm = await client.waitForVmStatus(ns, 'flaky', 'Stopped');
  expect(vm.spec.runStrategy).toBe('Halted');
});

test('fault-vm-change=...=Deleted: the VM is deleted after the snapshot', async () => {
  await vmWithDisk('gone', {
    runStrategy: 'Always',
    annotations: { [Ann.faultVmChange]: 'snapshot-done=Deleted' },
    status: 'Running',
  });
  await snapshotOf('gone-snap', 'gone');
  await client.waitFor(VM_SNAPSHOT, ns, 'gone-snap', phase('Succeeded'));
  await until('VM deleted', async () => (await client.get(VM, ns, 'gone')) === undefined);
});
