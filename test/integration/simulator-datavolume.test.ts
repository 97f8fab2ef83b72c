// The simulated CDI and virt-controller DataVolume handling against the real API server
// and CDI's real DataVolume CRD: standalone DataVolumes (blank, pvc clone, registry) and
// a VM's dataVolumeTemplates.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { craneFor, type Crane } from '../harness/crane.js';
import { writeDisk } from '../harness/disks.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { DATA_VOLUME, VM, type Obj } from '../harness/kubevirt/api.js';
import { startKubevirtSimulator, type KubevirtSimulator } from '../harness/kubevirt/simulator.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { createNamespace, kubeConfig, kubectl } from '../harness/testbed.js';

let sim: KubevirtSimulator;
let client: SimTestClient;
let registry: TestRegistry;
let crane: Crane;
let ns: string;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  crane = await craneFor(registry);
  sim = await startKubevirtSimulator({
    kubeConfig: kubeConfig(),
    hostAliases: { 'registry:5000': registry.host },
  });
  client = new SimTestClient(kubeConfig());
  ns = await createNamespace('sim-dv');
  work = mkdtempSync(path.join(os.tmpdir(), 'sim-dv-'));
});

afterAll(async () => {
  await sim?.stop();
  await registry?.stop();
  crane?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Every phase a DataVolume passes through, and its progress values (a watch sees each write). */
async function recordPhases(
  name: string,
): Promise<{ phases: string[]; progress: string[]; stop: () => void }> {
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
  return { phases, progress, stop: () => req.abort() };
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
  client.waitFor(DATA_VOLUME, ns, name, (o) => o.status?.phase === 'Succeeded');

/** A containerDisk image (disk/disk.img in one layer, GNU tar), pushed with crane. */
async function pushContainerDisk(ref: string, size: number, seed: string): Promise<string> {
  const dir = path.join(work, seed);
  mkdirSync(path.join(dir, 'disk'), { recursive: true });
  const disk = await writeDisk(path.join(dir, 'disk', 'disk.img'), { size, seed });
  execFileSync('tar', ['-C', dir, '-cf', path.join(dir, 'layer.tar'), 'disk']);
  await crane.appendLayer(path.join(dir, 'layer.tar'), ref);
  return disk.sha256;
}

test('a blank DataVolume makes its PVC (owned by it) and walks CDI phases to Succeeded', async () => {
  const seen = await recordPhases('empty');
  await applyDv('empty', { blank: {} }, '3Mi');
  const dv = await succeeded('empty');
  seen.stop();
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
  const pvc = await client.core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'empty' });
  expect(pvc.metadata?.ownerReferences).toEqual([
    expect.objectContaining({ kind: 'DataVolume', name: 'empty', uid: dv.metadata.uid, controller: true }),
  ]);
  expect(pvc.spec?.accessModes).toEqual(['ReadWriteOnce']);
  expect(pvc.metadata?.annotations?.['cdi.kubevirt.io/storage.import.source']).toBe('none');
  expect(statSync(sim.diskFile(ns, 'empty')!).size).toBe(3 * 1024 * 1024);
});

test('a pvc source clones the source PVC bytes, through CloneScheduled and CloneInProgress', async () => {
  const sourceSha = await client.createDiskPvc(ns, 'golden', { size: '2Mi', seed: 'golden' });
  const seen = await recordPhases('copy');
  await applyDv('copy', { pvc: { namespace: ns, name: 'golden' } });
  await succeeded('copy');
  seen.stop();
  expect(seen.phases).toEqual(['Pending', 'CloneScheduled', 'CloneInProgress', 'Succeeded']);
  const pvc = await client.core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'copy' });
  expect(pvc.metadata?.annotations?.[Ann.diskSha256]).toBe(sourceSha);
});

test('a registry source imports the containerDisk into the PVC (registry name through a host alias)', async () => {
  const sha = await pushContainerDisk(
    `${registry.host}/kubevirt/imported:v1`,
    3 * 1024 * 1024 + 512,
    'imported',
  );
  await applyDv('imported', { registry: { url: 'docker://registry:5000/kubevirt/imported:v1' } }, '8Mi');
  await succeeded('imported');
  const pvc = await client.core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'imported' });
  expect(pvc.metadata?.annotations?.[Ann.diskSha256]).toBe(sha);
  expect(pvc.metadata?.annotations?.['cdi.kubevirt.io/storage.import.endpoint']).toBe(
    'docker://registry:5000/kubevirt/imported:v1',
  );
});

test('a failing import stays ImportInProgress, counts restarts and says why', async () => {
  await applyDv('missing', { registry: { url: 'docker://registry:5000/kubevirt/nothing:here' } });
  const dv = await client.waitFor(DATA_VOLUME, ns, 'missing', (o) => (o.status?.restartCount ?? 0) >= 1);
  expect(dv.status.phase).toBe('ImportInProgress');
  expect(condition(dv, 'Running')).toMatchObject({ status: 'False', reason: 'Error' });
  expect(condition(dv, 'Ready')).toMatchObject({ status: 'False' });
});

test('dataVolumeTemplates become DataVolumes owned by the VM; the VM is Provisioning until they succeed', async () => {
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
  const sha = await pushContainerDisk(`${registry.host}/kubevirt/templated:v1`, 2 * 1024 * 1024, 'templated');
  await client.create(VM, ns, {
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
  const vm = await client.waitForVmStatus(ns, 'templated', 'Running');
  req.abort();
  expect(seen[0]).toBe('Provisioning');
  expect(seen.slice(-2)).toEqual(['Starting', 'Running']);
  const dv = await client.get(DATA_VOLUME, ns, 'templated-root');
  expect(dv?.metadata.ownerReferences).toEqual([
    expect.objectContaining({
      kind: 'VirtualMachine',
      name: 'templated',
      uid: vm.metadata.uid,
      controller: true,
    }),
  ]);
  expect(dv?.metadata.labels?.['kubevirt.io/created-by']).toBe(vm.metadata.uid);
  const pvc = await client.core.readNamespacedPersistentVolumeClaim({
    namespace: ns,
    name: 'templated-root',
  });
  expect(pvc.metadata?.annotations?.[Ann.diskSha256]).toBe(sha);
  expect(vm.status.volumeSnapshotStatuses).toEqual([{ name: 'rootdisk', enabled: true }]);

  // Deleting the VM takes its DataVolume and, with it, the PVC.
  await client.delete(VM, ns, 'templated');
  await until('the DataVolume and its PVC to go', async () => {
    const gone = !(await client.get(DATA_VOLUME, ns, 'templated-root'));
    const pvcs = await client.core.listNamespacedPersistentVolumeClaim({ namespace: ns });
    return gone && !pvcs.items.some((p) => p.metadata?.name === 'templated-root');
  });
});
