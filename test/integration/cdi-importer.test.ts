// The harness's runner of CDI's real importer (test/harness/cdi-importer.ts) on images
// made by crane, not by us: it imports a containerDisk over plain HTTP and over TLS with
// our CA, and fails as CDI fails (no disk in the image, a certificate it cannot verify).
// As the bed's importer of DataVolume registry sources (cdiRegistryImporter()) it is
// checked by serverimage-cdi-roundtrip.test.ts, on the real-controller bed that file
// starts anyway: the DataVolume's disk is the source's bytes grown with zeros to 7 MiB.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { importWithCdi } from '../harness/cdi-importer.js';
import { craneFor } from '../harness/crane.js';
import { importedDisk } from '../harness/images.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';

const MiB = 1024 * 1024;
let work: string;
let plain: TestRegistry;
let secure: TestRegistry;
const disk = randomBytes(2 * MiB + 512);
const diskSha = createHash('sha256').update(disk).digest('hex');

/** A single-layer image from `entries` (path -> bytes) pushed with crane; its digest reference. */
async function pushWithCrane(registry: TestRegistry, repo: string, entries: Record<string, Buffer>) {
  const root = mkdtempSync(path.join(work, 'layer-'));
  for (const [name, bytes] of Object.entries(entries)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), bytes);
  }
  const tar = path.join(root, '..', `${path.basename(root)}.tar`);
  execFileSync('tar', ['-C', root, '--owner=107', '--group=107', '-cf', tar, ...Object.keys(entries)]);
  const crane = await craneFor(registry);
  try {
    return await crane.appendLayer(tar, `${registry.host}/${repo}:latest`);
  } finally {
    crane.cleanup();
  }
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cdi-importer-test-'));
  plain = await startRegistry();
  secure = await startRegistry({ tls: true });
});

afterAll(async () => {
  await plain?.stop();
  await secure?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('imports a containerDisk over plain HTTP: the disk, grown with zeros to the usable size', async () => {
  const reference = await pushWithCrane(plain, 'vms/plain', { 'disk/disk.img': disk });
  expect(reference).toMatch(/@sha256:[0-9a-f]{64}$/);
  const before = plain.requests.length;
  const run = await importWithCdi({ reference, insecure: true, sizeBytes: 8 * MiB });
  try {
    expect(run).toMatchObject({ succeeded: true, exitCode: 0 });
    expect(JSON.parse(run.message)).toMatchObject({ message: 'Import Complete' });
    // 8 MiB less CDI's 5.5% overhead, as qemu-img resized it.
    const imported = await importedDisk(run.diskFile, disk.length);
    expect(imported).toEqual({ size: 7 * MiB, sha256: diskSha, zeroTail: true });
    // It read the registry through its loopback address (the fault proxy logged it).
    expect(plain.requests.length).toBeGreaterThan(before);
  } finally {
    run.cleanup();
  }
});

test('imports over TLS trusting our CA (IMPORTER_CERT_DIR)', async () => {
  const reference = await pushWithCrane(secure, 'vms/secure', { 'disk/disk.img': disk });
  const run = await importWithCdi({ reference, caPem: secure.caPem, sizeBytes: 8 * MiB });
  try {
    expect(run).toMatchObject({ succeeded: true });
    expect((await importedDisk(run.diskFile, disk.length)).sha256).toBe(diskSha);
  } finally {
    run.cleanup();
  }
});

test('fails as CDI does without the CA, and for an image without a disk', async () => {
  const tlsReference = await pushWithCrane(secure, 'vms/untrusted', { 'disk/disk.img': disk });
  const untrusted = await importWithCdi({ reference: tlsReference, sizeBytes: 8 * MiB });
  untrusted.cleanup();
  expect(untrusted).toMatchObject({ succeeded: false, exitCode: 1 });
  expect(untrusted.message).toMatch(/^Unable to process data: .*x509/);

  const noDisk = await pushWithCrane(plain, 'vms/no-disk', { 'etc/motd': Buffer.from('hello\n') });
  const refused = await importWithCdi({ reference: noDisk, insecure: true, sizeBytes: 8 * MiB });
  refused.cleanup();
  expect(refused).toMatchObject({ succeeded: false });
  expect(refused.message).toContain('Failed to find VM disk image file');
});
