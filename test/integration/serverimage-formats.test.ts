// spec.format end to end: ServerImages asking for zstd and for qcow2 reach Active on
// the KubeVirt bed (virt-controller's exports, the real virt-exportserver) and the real registry;
// crane reads the images back, QEMU's qemu-img checks the qcow2 file against the
// VM's disk (the PVC's bytes, kept by the node simulator), and CDI's real importer (v1.65.0's
// cmd/cdi-importer) turns the qcow2 and the zstd images back into the VM's disk.
// On KubeVirt's real virt-controller: its snapshots and exports (the real exporter Pod,
// behind the bed's Service routing, where the connection drops are made) feed both passes.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { importWithCdi } from '../harness/cdi-importer.js';
import { imageDiskSha256, importedDisk } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { qemuImg } from '../harness/qemu-img.js';
import {
  createServerImage,
  createVm,
  serverImage,
  waitForPhase,
  serverImageTestFile,
} from './serverimage-fixtures.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';

const MiB = 1024 * 1024;
const bed = serverImageTestFile({
  namespace: 'si-formats',
  checkNothingLeftBehind: true,
});
let work: string;
let recorder: ReturnType<typeof recordManagers> | undefined;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'si-formats-'));
  recorder = recordManagers(bed.ns);
  await recorder.start();
});

afterAll(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
  if (recorder) {
    await recorder.stop();
    // Every snapshot and export of the file: their status was virt-controller's alone.
    expectStatusByVirtController(recorder);
  }
});

/**
 * A VM with a 9 MiB disk (a quarter random, a quarter text, half zeros in 2 MiB
 * runs; the same bytes for every VM here), imaged with `format`.
 */
async function imageWith(vm: string, format: object, annotations: Record<string, string> = {}) {
  const disks = [{ volume: 'rootdisk', size: 9 * MiB, seed: 'si-formats' }];
  const shas = await createVm(bed.client, bed.ns, vm, { disks, annotations });
  await createServerImage(bed.client, serverImage(bed.ns, `${vm}-image`, vm, bed.registry, { format }));
  const si = await waitForPhase(bed.client, bed.ns, `${vm}-image`, 'Active');
  const image = si.status.images[0] as { reference: string; digest: string; diskFormat: string };
  const manifest = (await bed.crane.manifest(image.reference)) as { layers: { mediaType: string }[] };
  return { si, image, sha: shas.rootdisk!, mediaTypes: manifest.layers.map((l) => l.mediaType) };
}

/** The VM's disk as the simulator (the node's storage) keeps it: the raw bytes qemu-img compares the qcow2 file with. */
function vmDiskFile(vm: string): string {
  const file = bed.sim.diskFile(bed.ns, `${vm}-rootdisk`);
  if (!file) throw new Error(`no disk file for PVC ${vm}-rootdisk`);
  return file;
}

/** disk/disk.img of the image (crane export), checked by qemu-img; returns its sha256. */
async function checkQcow2(reference: string, vm: string): Promise<string> {
  const tar = await bed.crane.exportTar(reference);
  const bytes = execFileSync('tar', ['-xOf', '-', 'disk/disk.img'], { input: tar, maxBuffer: 1 << 30 });
  const file = path.join(work, `${vm}.qcow2`);
  writeFileSync(file, bytes);
  const check = qemuImg(['check', '-f', 'qcow2', file]);
  expect(check.stdout).toContain('No errors were found on the image.');
  expect(check.code).toBe(0);
  const compare = qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', vmDiskFile(vm), file]);
  expect(compare.stdout.trim()).toBe('Images are identical.');
  expect(compare.code).toBe(0);
  // Only the non-zero half of the disk, plus a few 64 KiB tables.
  expect(bytes.length).toBeLessThan(5 * MiB + 6 * 64 * 1024);
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The image imported by the real cdi-importer (a DataVolume's registry import: pull,
 * find disk/disk.img, qemu-img convert to raw into the PVC): the VM's bytes, then the
 * zeros it grows the disk with to the PVC's size.
 */
async function expectCdiImportsVmDisk(reference: string, sha: string) {
  const run = await importWithCdi({
    reference,
    insecure: !bed.registry.tls,
    caPem: bed.registry.caPem,
    sizeBytes: 16 * MiB,
    filesystemOverhead: 0,
  });
  try {
    // On failure, say why: the importer's exit code, termination message and log tail.
    if (!run.succeeded)
      throw new Error(`cdi-importer failed (exit ${run.exitCode}): ${run.message}\n${run.log.slice(-3000)}`);
    expect(JSON.parse(run.message)).toMatchObject({ message: 'Import Complete' });
    expect(await importedDisk(run.diskFile, 9 * MiB)).toEqual({
      size: 16 * MiB,
      sha256: sha,
      zeroTail: true,
    });
  } finally {
    run.cleanup();
  }
}

let qcow2Sha: string;

test('zstd: the layer is tar+zstd, status says raw, the disk is the VM disk, cdi-importer reads it', async () => {
  const { image, sha, mediaTypes } = await imageWith('zstd-vm', { compression: 'zstd' });
  expect(image.diskFormat).toBe('raw');
  expect(mediaTypes).toEqual(['application/vnd.oci.image.layer.v1.tar+zstd']);
  expect(await bed.crane.digest(image.reference)).toBe(image.digest);
  expect(await imageDiskSha256(bed.crane, image.reference)).toBe(sha);
  await expectCdiImportsVmDisk(image.reference, sha);
});

test('qcow2: status says qcow2, the layer is tar+gzip, qemu-img check is clean, compare says identical, cdi-importer writes the VM disk', async () => {
  const { image, sha, mediaTypes } = await imageWith('qcow2-vm', { disk: 'qcow2' });
  expect(image.diskFormat).toBe('qcow2');
  expect(mediaTypes).toEqual(['application/vnd.oci.image.layer.v1.tar+gzip']);
  expect(await bed.crane.digest(image.reference)).toBe(image.digest);
  qcow2Sha = await checkQcow2(image.reference, 'qcow2-vm');
  await expectCdiImportsVmDisk(image.reference, sha);
});

test('qcow2 + zstd with export connections dropped every 1 MiB (both passes): resumed, the same qcow2 file', async () => {
  const { si, image, mediaTypes } = await imageWith(
    'qcow2-drops',
    { compression: 'zstd', disk: 'qcow2' },
    { [Ann.faultDropAfterBytes]: String(MiB) },
  );
  expect(image.diskFormat).toBe('qcow2');
  expect(mediaTypes).toEqual(['application/vnd.oci.image.layer.v1.tar+zstd']);
  expect(si.status.images).toHaveLength(1);
  // The same disk as the fault-free qcow2 test: the very same qcow2 file.
  expect(qcow2Sha).toMatch(/^[0-9a-f]{64}$/);
  expect(await checkQcow2(image.reference, 'qcow2-drops')).toBe(qcow2Sha);
});
