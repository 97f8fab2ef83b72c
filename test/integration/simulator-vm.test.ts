// The simulated VirtualMachine controller against the real API server.
import * as k8s from '@kubernetes/client-node';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM, type Obj } from '../harness/kubevirt/api.js';
import { startKubevirtSimulator, type KubevirtSimulator } from '../harness/kubevirt/simulator.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { createNamespace, kubeConfig, kubectl } from '../harness/testbed.js';

let sim: KubevirtSimulator;
let client: SimTestClient;
let ns: string;

beforeAll(async () => {
  sim = await startKubevirtSimulator({ kubeConfig: kubeConfig() });
  client = new SimTestClient(kubeConfig());
  ns = await createNamespace('sim-vm');
});

afterAll(async () => {
  await sim?.stop();
});

/** Records every printableStatus a VM passes through (a watch sees each write). */
async function recordStatuses(name: string): Promise<{ seen: string[]; stop: () => void }> {
  const seen: string[] = [];
  const req = await new k8s.Watch(kubeConfig()).watch(
    `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines`,
    { fieldSelector: `metadata.name=${name}` },
    (_type, obj: Obj) => {
      const s = obj.status?.printableStatus;
      if (s && seen[seen.length - 1] !== s) seen.push(s);
    },
    () => undefined,
  );
  return { seen, stop: () => req.abort() };
}

const condition = (vm: Obj, type: string) =>
  (vm.status?.conditions ?? []).find((c: { type: string }) => c.type === type);

test('a VM goes Stopped -> Running -> Paused -> Stopped through Starting and Stopping', async () => {
  const recorder = await recordStatuses('life');
  await client.createVm(ns, 'life', { runStrategy: 'Halted' });
  let vm = await client.waitForVmStatus(ns, 'life', 'Stopped');
  expect(condition(vm, 'Ready')).toMatchObject({ status: 'False', reason: 'VMINotExists' });
  expect(vm.metadata.finalizers).toContain('kubevirt.io/virtualMachineControllerFinalize');

  await client.patch(VM, ns, 'life', { spec: { runStrategy: 'Always' } });
  vm = await client.waitForVmStatus(ns, 'life', 'Running');
  expect(vm.status).toMatchObject({ ready: true, created: true, runStrategy: 'Always' });
  expect(condition(vm, 'Ready')).toMatchObject({ status: 'True' });
  expect(condition(vm, 'AgentConnected')).toBeUndefined();

  // kubectl, as a person would flip the switch
  const annotate = await kubectl(['annotate', '-n', ns, 'vm', 'life', `${Ann.paused}=true`]);
  expect(annotate.code).toBe(0);
  vm = await client.waitForVmStatus(ns, 'life', 'Paused');
  expect(condition(vm, 'Paused')).toMatchObject({ status: 'True', reason: 'PausedByUser' });

  await client.patch(VM, ns, 'life', { spec: { runStrategy: 'Halted' } });
  vm = await client.waitForVmStatus(ns, 'life', 'Stopped');
  expect(condition(vm, 'Paused')).toBeUndefined();
  expect(vm.status).toMatchObject({ ready: false, created: false, runStrategy: 'Halted' });

  // The GET above can see Stopped before the watch delivers it: wait for the watch too.
  const expected = ['Stopped', 'Starting', 'Running', 'Paused', 'Stopping', 'Stopped'];
  await until('the watch to see the last Stopped', async () => recorder.seen.length >= expected.length).catch(
    () => undefined,
  );
  recorder.stop();
  expect(recorder.seen).toEqual(expected);
});

test('the legacy spec.running field and a guest agent', async () => {
  await client.create(VM, ns, {
    metadata: { name: 'legacy', annotations: { [Ann.guestAgent]: 'true' } },
    // The real schema requires spec.template.spec.domain.
    spec: { running: true, template: { spec: { domain: { devices: {} }, volumes: [] } } },
  });
  const vm = await client.waitForVmStatus(ns, 'legacy', 'Running');
  expect(vm.status.runStrategy).toBe('Always');
  expect(condition(vm, 'AgentConnected')).toMatchObject({ status: 'True' });
});

test('volumeSnapshotStatuses say which volumes can be snapshotted, in KubeVirt words', async () => {
  await client.storage.createStorageClass({
    body: {
      metadata: { name: `${ns}-nosnap`, annotations: { [Ann.noVolumeSnapshotClass]: 'true' } },
      provisioner: 'sim.example.com',
    },
  });
  await client.createDiskPvc(ns, 'root', { size: '1Mi' });
  await client.createDiskPvc(ns, 'data', { size: '1Mi', storageClassName: `${ns}-nosnap` });
  await client.createVm(ns, 'mixed', {
    volumes: [
      { name: 'rootdisk', persistentVolumeClaim: { claimName: 'root' } },
      { name: 'dv', dataVolume: { name: 'root' } },
      { name: 'datadisk', persistentVolumeClaim: { claimName: 'data' } },
      { name: 'containerdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:42' } },
      { name: 'cloudinitdisk', cloudInitNoCloud: { userData: '#cloud-config' } },
      { name: 'scratch', emptyDisk: { capacity: '1Gi' } },
      { name: 'host', hostDisk: { path: '/data/disk.img', type: 'Disk' } },
      { name: 'ghost', persistentVolumeClaim: { claimName: 'missing' } },
    ],
  });
  const vm = await client.waitFor(
    VM,
    ns,
    'mixed',
    (o) => (o.status?.volumeSnapshotStatuses ?? []).length === 8,
  );
  const unsupported = (v: string) => `Snapshot is not supported for this volumeSource type [${v}]`;
  expect(vm.status.volumeSnapshotStatuses).toEqual([
    { name: 'rootdisk', enabled: true },
    { name: 'dv', enabled: true },
    {
      name: 'datadisk',
      enabled: false,
      reason: `No VolumeSnapshotClass: Volume snapshots are not configured for this StorageClass [${ns}-nosnap] [datadisk]`,
    },
    { name: 'containerdisk', enabled: false, reason: unsupported('containerdisk') },
    { name: 'cloudinitdisk', enabled: false, reason: unsupported('cloudinitdisk') },
    { name: 'scratch', enabled: false, reason: unsupported('scratch') },
    { name: 'host', enabled: false, reason: unsupported('host') },
    { name: 'ghost', enabled: false, reason: 'PVC not found' },
  ]);
  await client.storage.deleteStorageClass({ name: `${ns}-nosnap` });
});

test('a forced printableStatus (e.g. Migrating) holds until the switch is removed', async () => {
  await client.createVm(ns, 'mover', { runStrategy: 'Always' });
  await client.waitForVmStatus(ns, 'mover', 'Running');
  await client.annotate(VM, ns, 'mover', { [Ann.printableStatus]: 'Migrating' });
  await client.waitForVmStatus(ns, 'mover', 'Migrating');
  await client.annotate(VM, ns, 'mover', { [Ann.printableStatus]: null });
  await client.waitForVmStatus(ns, 'mover', 'Running');
});

test('deleting a VM passes Terminating, removes the PVCs it owns and keeps the others', async () => {
  const vm = await client.createVm(ns, 'doomed', {
    runStrategy: 'Always',
    volumes: [
      { name: 'own', dataVolume: { name: 'doomed-own' } },
      { name: 'shared', persistentVolumeClaim: { claimName: 'doomed-shared' } },
    ],
  });
  await client.createDiskPvc(ns, 'doomed-own', { size: '1Mi', ownerVm: vm });
  await client.createDiskPvc(ns, 'doomed-shared', { size: '1Mi' });
  await client.waitForVmStatus(ns, 'doomed', 'Running');
  const file = sim.diskFile(ns, 'doomed-own')!;
  expect(file).toBeDefined();

  // A watch sees every status write: polling can miss a Terminating that lasts 300 ms.
  const statuses = await recordStatuses('doomed');
  await client.delete(VM, ns, 'doomed');
  await until('VM gone', async () => (await client.get(VM, ns, 'doomed')) === undefined);
  statuses.stop();
  expect(statuses.seen).toContain('Terminating');
  await until('owned PVC gone', async () => {
    const list = await client.core.listNamespacedPersistentVolumeClaim({ namespace: ns });
    const names = list.items.map((p) => p.metadata?.name);
    return !names.includes('doomed-own') && names.includes('doomed-shared');
  });
  const { existsSync } = await import('node:fs');
  await until('disk file of the owned PVC removed', async () => !existsSync(file));
});
