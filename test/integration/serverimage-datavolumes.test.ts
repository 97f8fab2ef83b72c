// KubeVirt's own examples with DataVolumes and PVCs, applied with kubectl as they are, and a
// standalone DataVolume: each VM becomes Active images holding its disks' exact bytes. And
// the user's order: a ServerImage waits while CDI is still filling its VM's DataVolume.
// On KubeVirt's real virt-controller: it makes a template's DataVolumes and the VM's
// Provisioning status itself, and takes the snapshots and exports; CDI (the DataVolume
// import or clone) and the node stay the simulator's, whose DataVolume phases are asserted
// here too. And the bed itself: idle, its stand-ins write nothing.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { writeDisk } from '../harness/disks.js';
import { imageDiskSha256 } from '../harness/images.js';
import * as k8s from '@kubernetes/client-node';
import { Ann } from '../harness/kubevirt/annotations.js';
import { DATA_VOLUME, VM, type Obj } from '../harness/kubevirt/api.js';
import { CSI_DRIVER } from '../harness/kubevirt/real/bed.js';
import { until } from '../harness/kubevirt/testing.js';
import { createNamespace, kubeConfig, kubectl } from '../harness/testbed.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import {
  createServerImage,
  expectNothingLeftBehind,
  SERVERIMAGE,
  serverImage,
  startServerImageBed,
  waitForPhase,
  type ServerImageBed,
} from './serverimage-fixtures.js';
import { byClientNode, completedRequests, type AuditEvent } from '../harness/audit-log.js';

const EXAMPLES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures',
  'kubevirt-examples',
);

const QUIET_WINDOW_MS = 20_000;

let bed: ServerImageBed;
let ns: string;
let work: string;
let recorder: ReturnType<typeof recordManagers>;

beforeAll(async () => {
  bed = await startServerImageBed([]);
  // The examples name KubeVirt's development registry; here it is the bed's registry.
  bed.sim.hostAliases['registry:5000'] = bed.registry.host;
  ns = await createNamespace('si-dv');
  // The DataVolume example asks for StorageClass `local`, as KubeVirt's dev cluster has it.
  // virt-controller calls a volume snapshottable only if a VolumeSnapshotClass's driver is
  // its class's provisioner (without the class: UnsupportedVolume), so the bed's cluster
  // gets a `local` class of its CSI driver, whose snapshot class is the default one.
  await kubeConfig()
    .makeApiClient(k8s.StorageV1Api)
    .createStorageClass({
      body: { metadata: { name: 'local' }, provisioner: CSI_DRIVER, volumeBindingMode: 'Immediate' },
    });
  work = mkdtempSync(path.join(os.tmpdir(), 'si-dv-'));
  recorder = recordManagers(ns);
  await recorder.start();
}, 180_000); // the real-controller bed starts in 12-25 s, more on a loaded machine

afterAll(async () => {
  if (recorder) {
    await recorder.stop();
    // Every snapshot and export of the file: their status was virt-controller's alone.
    expectStatusByVirtController(recorder);
  }
  await bed?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

afterEach(async () => {
  await expectNothingLeftBehind(bed.client, ns, [bed.registry]);
});

/** Pushes a containerDisk (disk/disk.img, GNU tar, one layer) with crane; returns the disk's sha256. */
async function pushContainerDisk(repoTag: string, size: number): Promise<string> {
  const dir = path.join(work, repoTag.replace(/[/:]/g, '_'));
  mkdirSync(path.join(dir, 'disk'), { recursive: true });
  const disk = await writeDisk(path.join(dir, 'disk', 'disk.img'), { size, seed: repoTag });
  execFileSync('tar', ['-C', dir, '-cf', path.join(dir, 'layer.tar'), 'disk']);
  await bed.crane.appendLayer(path.join(dir, 'layer.tar'), `${bed.registry.host}/${repoTag}`);
  return disk.sha256;
}

async function imageOf(vm: string) {
  await createServerImage(bed.client, serverImage(ns, `${vm}-image`, vm, bed.registry));
  return waitForPhase(bed.client, ns, `${vm}-image`, 'Active');
}

async function apply(file: string) {
  const applied = await kubectl(['apply', '-n', ns, '-f', path.join(EXAMPLES, file)]);
  expect(applied.stderr).toBe('');
  expect(applied.code).toBe(0);
}

/** The writes of client-node clients (the bed's stand-ins, the in-process operator) since `since`. */
function clientNodeWritesSince(since: number): AuditEvent[] {
  return completedRequests().filter(
    (e) => byClientNode(e) && new Date(e.requestReceivedTimestamp).getTime() >= since,
  );
}

/** A PVC with a disk of the bed's through kubectl (not client-node: the quiet case counts those). */
async function kubectlDiskPvc(name: string, seed: string) {
  const applied = await kubectl(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name, annotations: { [Ann.diskSize]: '64Ki', [Ann.diskSeed]: seed } },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Ki' } } },
    }),
  );
  expect(applied.code).toBe(0);
}

// First in the file, so that nothing of another case (a PV released, a Pod going) is under
// way in its window.
test(
  'the bed must not load its own API server: idle, the stand-ins write nothing while unrelated PVCs change',
  async () => {
    // A running VM with a PVC disk and a DataVolume disk: its VMI (virt-handler stand-in),
    // virt-launcher Pod and Node (kubelet stand-in), PVs (CSI stand-in), PVCs and DataVolume
    // (the simulator's PVC and CDI controllers). virt-controller's, the scheduler's and
    // kube-controller-manager's writes are theirs (Go clients), not counted.
    await bed.client.createDiskPvc(ns, 'idle-root', { size: '1Mi' });
    await bed.client.create(DATA_VOLUME, ns, {
      metadata: { name: 'idle-data' },
      spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Mi' } } } },
    });
    await bed.client.createVm(ns, 'idle', {
      runStrategy: 'Always',
      annotations: { [Ann.guestAgent]: 'true' },
      volumes: [
        { name: 'rootdisk', persistentVolumeClaim: { claimName: 'idle-root' } },
        { name: 'datadisk', dataVolume: { name: 'idle-data' } },
      ],
    });
    await bed.client.waitFor(DATA_VOLUME, ns, 'idle-data', (o) => o.status?.phase === 'Succeeded');
    await bed.client.waitForVmStatus(ns, 'idle', 'Running');
    await sleep(2000); // the last writes of getting there settle
    const since = Date.now();
    const dvReconciles = bed.sim.reconciles('datavolume', `${ns}/idle-data`);

    // Beside it, other PVCs are made, provisioned, given bytes and changed (what 89% of a
    // loaded bed's writes once answered with a status patch of every VM in the namespace).
    // A ping-pong between a stand-in and a controller repeats within a second, and the
    // stand-ins have no timers but the Node heartbeat: 20 s show what a minute did.
    let n = 0;
    while (Date.now() - since < QUIET_WINDOW_MS) {
      const name = `other-${n++}`;
      await kubectlDiskPvc(name, name);
      await kubectl(['annotate', '-n', ns, '--overwrite', 'pvc', name, `${Ann.diskSeed}=changed-${n}`]);
      await sleep(2000);
    }
    await sleep(2500); // the audit log is written in 1 s batches

    const churnPvs = new Set(
      (await bed.client.core.listNamespacedPersistentVolumeClaim({ namespace: ns })).items
        .filter((p) => p.metadata!.name!.startsWith('other-'))
        .map((p) => `pvc-${p.metadata!.uid}`),
    );
    const writes = clientNodeWritesSince(since);
    const churn = (e: AuditEvent) =>
      (e.objectRef?.name ?? '').startsWith('other-') || churnPvs.has(e.objectRef?.name ?? '');
    // virt-handler's heartbeat on the Node, every 30 s as the real one's (once a node, not a VM).
    const heartbeat = (e: AuditEvent) => e.objectRef?.resource === 'nodes' && e.verb === 'patch';
    const describe = (e: AuditEvent) =>
      `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''} ${e.objectRef?.name}`;
    expect(writes.filter((e) => !churn(e) && !heartbeat(e)).map(describe)).toEqual([]);
    expect(writes.filter(heartbeat).length).toBeLessThanOrEqual(1);
    // The other PVCs' changes did not even requeue the DataVolume.
    expect(bed.sim.reconciles('datavolume', `${ns}/idle-data`)).toBe(dvReconciles);
    // The churn did happen, and the bed answered it (a PV and the disk's bytes for each PVC).
    expect(writes.filter((e) => churn(e)).length).toBeGreaterThanOrEqual(2 * Math.min(n, 3));
    await bed.client.delete(VM, ns, 'idle');
  },
  QUIET_WINDOW_MS + 60_000,
);

/** Every phase a DataVolume passes through, and its progress values (a watch sees each write). */
async function recordPhases(
  name: string,
): Promise<{ phases: string[]; progress: string[]; stop: () => Promise<void> }> {
  const phases: string[] = [];
  const progress: string[] = [];
  const req = await new k8s.Watch(kubeConfig()).watch(
    `/apis/cdi.kubevirt.io/v1beta1/namespaces/${ns}/datavolumes`,
    { fieldSelector: `metadata.name=${name}` },
    (_type, obj: Obj) => {
      const p = obj.status?.phase;
      if (p && phases[phases.length - 1] !== p) phases.push(p);
      const pr = obj.status?.progress;
      if (pr && progress[progress.length - 1] !== pr) progress.push(pr);
    },
    () => undefined,
  );
  // The test's own wait reads the object, which can see Succeeded before this watch does:
  // stop once the watch has seen the phase the object has now (its last event).
  const stop = async () => {
    const now = (await bed.client.get(DATA_VOLUME, ns, name))?.status?.phase;
    await until(`the watch to see phase ${now}`, async () => phases.at(-1) === now, 10_000);
    req.abort();
  };
  return { phases, progress, stop };
}

const condition = (o: Obj, type: string) =>
  (o.status?.conditions ?? []).find((c: { type: string }) => c.type === type);

async function applyDv(name: string, source: object, size = '2Mi') {
  const applied = await kubectl(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: { name },
      spec: { source, storage: { resources: { requests: { storage: size } } } },
    }),
  );
  expect(applied.stderr).toBe('');
}

const succeeded = (name: string) =>
  bed.client.waitFor(DATA_VOLUME, ns, name, (o) => o.status?.phase === 'Succeeded');

// The bed's CDI (the simulator's DataVolume controller, which stays): standalone DataVolumes.
describe("the bed's CDI", () => {
  test('a blank DataVolume makes its PVC (owned by it) and walks CDI phases to Succeeded', async () => {
    const seen = await recordPhases('empty');
    await applyDv('empty', { blank: {} }, '3Mi');
    const dv = await succeeded('empty');
    await seen.stop();
    expect(seen.phases).toEqual(['Pending', 'ImportScheduled', 'ImportInProgress', 'Succeeded']);
    expect(seen.progress[0]).toBe('N/A');
    expect(seen.progress).toContain('0.00%');
    expect(dv.status).toMatchObject({ claimName: 'empty', progress: '100.0%', restartCount: 0 });
    expect(condition(dv, 'Ready')).toMatchObject({ status: 'True' });
    expect(condition(dv, 'Bound')).toMatchObject({
      status: 'True',
      reason: 'Bound',
      message: 'PVC empty Bound',
    });
    expect(condition(dv, 'Running')).toMatchObject({
      status: 'False',
      reason: 'Completed',
      message: 'Import Complete',
    });
    const pvc = await bed.client.core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'empty' });
    expect(pvc.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'DataVolume', name: 'empty', uid: dv.metadata.uid, controller: true }),
    ]);
    expect(pvc.spec?.accessModes).toEqual(['ReadWriteOnce']);
    expect(pvc.metadata?.annotations?.['cdi.kubevirt.io/storage.import.source']).toBe('none');
    expect(statSync(bed.sim.diskFile(ns, 'empty')!).size).toBe(3 * 1024 * 1024);
  });

  test('a pvc source clones the source PVC bytes, through CloneScheduled and CloneInProgress', async () => {
    const sourceSha = await bed.client.createDiskPvc(ns, 'cdi-golden', { size: '2Mi', seed: 'cdi-golden' });
    const seen = await recordPhases('copy');
    await applyDv('copy', { pvc: { namespace: ns, name: 'cdi-golden' } });
    await succeeded('copy');
    await seen.stop();
    expect(seen.phases).toEqual(['Pending', 'CloneScheduled', 'CloneInProgress', 'Succeeded']);
    const pvc = await bed.client.core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'copy' });
    expect(pvc.metadata?.annotations?.[Ann.diskSha256]).toBe(sourceSha);
  });

  test('a registry source imports the containerDisk into the PVC (registry name through a host alias)', async () => {
    const sha = await pushContainerDisk('kubevirt/imported:v1', 3 * 1024 * 1024 + 512);
    await applyDv('imported', { registry: { url: 'docker://registry:5000/kubevirt/imported:v1' } }, '8Mi');
    await succeeded('imported');
    const pvc = await bed.client.core.readNamespacedPersistentVolumeClaim({
      namespace: ns,
      name: 'imported',
    });
    expect(pvc.metadata?.annotations?.[Ann.diskSha256]).toBe(sha);
    expect(pvc.metadata?.annotations?.['cdi.kubevirt.io/storage.import.endpoint']).toBe(
      'docker://registry:5000/kubevirt/imported:v1',
    );
  });

  test('a failing import stays ImportInProgress, counts restarts and says why', async () => {
    await applyDv('missing', { registry: { url: 'docker://registry:5000/kubevirt/nothing:here' } });
    const dv = await bed.client.waitFor(
      DATA_VOLUME,
      ns,
      'missing',
      (o) => (o.status?.restartCount ?? 0) >= 1,
    );
    expect(dv.status.phase).toBe('ImportInProgress');
    expect(condition(dv, 'Running')).toMatchObject({ status: 'False', reason: 'Error' });
    expect(condition(dv, 'Ready')).toMatchObject({ status: 'False' });
    await bed.client.delete(DATA_VOLUME, ns, 'missing');
  });
});

test("a VM's dataVolumeTemplates: virt-controller makes the DataVolumes (owned by the VM), Provisioning until CDI is done; the VM's deletion takes them", async () => {
  const seen: string[] = [];
  const req = await new k8s.Watch(kubeConfig()).watch(
    `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines`,
    { fieldSelector: 'metadata.name=templated' },
    (_type, obj: Obj) => {
      const s = obj.status?.printableStatus;
      if (s && seen[seen.length - 1] !== s) seen.push(s);
    },
    () => undefined,
  );
  const sha = await pushContainerDisk('kubevirt/templated:v1', 2 * 1024 * 1024);
  await bed.client.create(VM, ns, {
    metadata: { name: 'templated' },
    spec: {
      runStrategy: 'Always',
      dataVolumeTemplates: [
        {
          metadata: { name: 'templated-root' },
          spec: {
            source: { registry: { url: 'docker://registry:5000/kubevirt/templated:v1' } },
            storage: { resources: { requests: { storage: '4Mi' } } },
          },
        },
      ],
      template: {
        spec: {
          domain: { devices: {}, memory: { guest: '64Mi' } },
          volumes: [{ name: 'rootdisk', dataVolume: { name: 'templated-root' } }],
        },
      },
    },
  });
  const vm = await bed.client.waitForVmStatus(ns, 'templated', 'Running');
  // The wait reads the VM, which can see Running before this watch does.
  await until("the watch to see the VM's Running", async () => seen.at(-1) === 'Running', 10_000);
  req.abort();
  process.stderr.write(`\n[dataVolumeTemplates] the VM's printableStatus: ${seen.join(' -> ')}\n`);
  // Before its DataVolume is in virt-controller's cache, the VM has no VMI and expects none:
  // Stopped (isVirtualMachineStatusStopped), then Provisioning while CDI imports (README #32).
  expect(['Stopped', 'Provisioning']).toContain(seen[0]);
  expect(seen).toContain('Provisioning');
  expect(seen.lastIndexOf('Provisioning')).toBeLessThan(seen.indexOf('Running'));
  expect(seen[seen.length - 1]).toBe('Running');
  const dv = await bed.client.get(DATA_VOLUME, ns, 'templated-root');
  expect(dv?.metadata.ownerReferences).toEqual([
    expect.objectContaining({
      kind: 'VirtualMachine',
      name: 'templated',
      uid: vm.metadata.uid,
      controller: true,
    }),
  ]);
  expect(dv?.metadata.labels?.['kubevirt.io/created-by']).toBe(vm.metadata.uid);
  const pvc = await bed.client.core.readNamespacedPersistentVolumeClaim({
    namespace: ns,
    name: 'templated-root',
  });
  expect(pvc.metadata?.annotations?.[Ann.diskSha256]).toBe(sha);

  // Deleting the VM takes its DataVolume (the garbage collector) and, with it, the PVC.
  await bed.client.delete(VM, ns, 'templated');
  await until('the DataVolume and its PVC to go', async () => {
    const gone = !(await bed.client.get(DATA_VOLUME, ns, 'templated-root'));
    const pvcs = await bed.client.core.listNamespacedPersistentVolumeClaim({ namespace: ns });
    return gone && !pvcs.items.some((p) => p.metadata?.name === 'templated-root');
  });
});

test('vm-alpine-datavolume.yaml: its DataVolume imports from the registry, then the VM is imaged', async () => {
  const sha = await pushContainerDisk('kubevirt/alpine-container-disk-demo:devel', 5 * 1024 * 1024 + 4096);
  await apply('vm-alpine-datavolume.yaml');
  const dv = await bed.client.waitFor(DATA_VOLUME, ns, 'alpine-dv', (o) => o.status?.phase === 'Succeeded');
  expect(dv.metadata.ownerReferences?.[0]).toMatchObject({
    kind: 'VirtualMachine',
    name: 'vm-alpine-datavolume',
  });
  // KubeVirt's controller made the template's DataVolume, the simulator (as CDI) its status.
  const specManagers = (dv.metadata.managedFields ?? []).filter((f) => !f.subresource).map((f) => f.manager);
  expect(specManagers).toContain('virt-controller');
  await bed.client.waitForVmStatus(ns, 'vm-alpine-datavolume', 'Stopped');

  const si = await imageOf('vm-alpine-datavolume');
  const ref = `${bed.registry.host}/vms/vm-alpine-datavolume:vm-alpine-datavolume-image`;
  expect(si.status.images).toEqual([expect.objectContaining({ volume: 'datavolumedisk1', reference: ref })]);
  expect(await imageDiskSha256(bed.crane, ref)).toBe(sha);
});

test('vm-alpine-multipvc.yaml: two PVC disks give two images', async () => {
  const alpine = await bed.client.createDiskPvc(ns, 'disk-alpine', { size: '3Mi' });
  const custom = await bed.client.createDiskPvc(ns, 'disk-custom', { size: '2Mi' });
  await apply('vm-alpine-multipvc.yaml');
  await bed.client.waitForVmStatus(ns, 'vm-alpine-multipvc', 'Stopped');

  const si = await imageOf('vm-alpine-multipvc');
  const base = `${bed.registry.host}/vms/vm-alpine-multipvc:vm-alpine-multipvc-image`;
  expect(si.status.images.map((i: { volume: string }) => i.volume)).toEqual(['pvcdisk1', 'pvcdisk2']);
  expect(await imageDiskSha256(bed.crane, base)).toBe(alpine);
  expect(await imageDiskSha256(bed.crane, `${base}-pvcdisk2`)).toBe(custom);
});

test('a standalone DataVolume (a clone of a golden PVC) used by a VM is imaged', async () => {
  const golden = await bed.client.createDiskPvc(ns, 'golden', { size: '4Mi', seed: 'golden' });
  const applied = await kubectl(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: { name: 'web-root' },
      spec: { source: { pvc: { namespace: ns, name: 'golden' } }, storage: {} },
    }),
  );
  expect(applied.stderr).toBe('');
  await bed.client.createVm(ns, 'web', { volumes: [{ name: 'rootdisk', dataVolume: { name: 'web-root' } }] });
  await bed.client.waitForVmStatus(ns, 'web', 'Stopped');

  const si = await imageOf('web');
  expect(await imageDiskSha256(bed.crane, si.status.images[0].reference)).toBe(golden);
});

test('in the user order: ServerImage, then VM and DataVolume, and CDI finishes later: Active, no snapshot before', async () => {
  // Applied as a GitOps tool may: the image first, then the DataVolume (a clone of a golden
  // PVC that does not exist yet, so CDI keeps retrying), then the VM using it.
  await createServerImage(bed.client, serverImage(ns, 'late-image', 'late', bed.registry));
  const applied = await kubectl(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: { name: 'late-root' },
      spec: { source: { pvc: { namespace: ns, name: 'late-golden' } }, storage: {} },
    }),
  );
  expect(applied.stderr).toBe('');
  await bed.client.createVm(ns, 'late', {
    volumes: [{ name: 'rootdisk', dataVolume: { name: 'late-root' } }],
  });
  await bed.client.waitForVmStatus(ns, 'late', 'Provisioning');
  const waiting = await bed.client.waitFor(SERVERIMAGE, ns, 'late-image', (o) =>
    (o.status?.conditions ?? []).some(
      (c: { type: string; reason: string }) =>
        c.type === 'Ready' && ['WaitingForServerState', 'WaitingForVolume'].includes(c.reason),
    ),
  );
  expect(waiting.status.phase).toBe('Queued');

  const golden = await bed.client.createDiskPvc(ns, 'late-golden', { size: '2Mi', seed: 'late-golden' });
  const si = await waitForPhase(bed.client, ns, 'late-image', 'Active');
  expect(await imageDiskSha256(bed.crane, si.status.images[0].reference)).toBe(golden);
  // The snapshot was taken once CDI had finished, not while it was filling the disk.
  const dv = await bed.client.get(DATA_VOLUME, ns, 'late-root');
  const snapshotted = si.status.conditions.find((c: { type: string }) => c.type === 'Snapshotted');
  const dvDone = dv!.status.conditions.find((c: { type: string }) => c.type === 'Ready');
  expect(Date.parse(snapshotted.lastTransitionTime)).toBeGreaterThanOrEqual(
    Date.parse(dvDone.lastTransitionTime),
  );
});
