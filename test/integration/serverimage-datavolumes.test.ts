// KubeVirt's own examples with DataVolumes and PVCs, applied with kubectl as they are, and a
// standalone DataVolume: each VM becomes Active images holding its disks' exact bytes. And
// the user's order: a ServerImage waits while CDI is still filling its VM's DataVolume.
// On KubeVirt's real virt-controller: it makes a template's DataVolumes and the VM's
// Provisioning status itself, and takes the snapshots and exports; CDI (the DataVolume
// import or clone) and the node stay the simulator's.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDisk } from '../harness/disks.js';
import { imageDiskSha256 } from '../harness/images.js';
import * as k8s from '@kubernetes/client-node';
import { DATA_VOLUME } from '../harness/kubevirt/api.js';
import { CSI_DRIVER } from '../harness/kubevirt/real/bed.js';
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

const EXAMPLES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures',
  'kubevirt-examples',
);

let bed: ServerImageBed;
let ns: string;
let work: string;
let recorder: ReturnType<typeof recordManagers>;

beforeAll(async () => {
  bed = await startServerImageBed([], { realKubevirt: true });
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
