// The data path end to end: the real virt-exportserver -> pushDiskImage -> the real
// Distribution registry, read back with the real crane, GNU tar and gzip.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DataPathError,
  pushDiskImage,
  type PushDiskImageOptions,
  type Progress,
} from '../../src/export/index.js';
import { createBlockEncoder } from '../../src/export/block-encoder.js';
import { compressionPoolUsers } from '../../src/export/compression-pool.js';
import { RegistryClient, RegistryError } from '../../src/registry/index.js';
import { serveDiskFile, type DiskExport } from '../bench/disk-export.js';
import { craneFor, type Crane } from '../harness/crane.js';
import { writeDisk, type DiskFile } from '../harness/disks.js';
import { qemuImg } from '../harness/qemu-img.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';

const MiB = 1024 * 1024;
const fast = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
const created = new Date('2026-11-27T10:00:00Z');

let work: string;
let disk: DiskFile;
let exportServer: DiskExport;
let registry: TestRegistry;
let crane: Crane;

function clientFor(target: TestRegistry, repo: string, password = target.password): RegistryClient {
  return new RegistryClient({
    repository: `${target.host}/${repo}`,
    insecure: !target.tls,
    credentials: target.username ? { username: target.username, password: password! } : undefined,
    retry: fast,
    chunkSize: 4 * MiB,
  });
}

function pushOptions(registryClient: RegistryClient, tag: string, extra: Partial<PushDiskImageOptions> = {}) {
  return {
    source: { url: exportServer.url, caPem: exportServer.caPem, token: exportServer.token, backoffMs: 50 },
    registry: registryClient,
    tag,
    imageName: 'web-01 nightly',
    created,
    sourceVm: { namespace: 'prod', name: 'web-01', uid: 'vm-uid-1' },
    volume: 'rootdisk',
    metadata: { os_distro: 'fedora', 'hw:cpu policy': 'dedicated' },
    ...extra,
  } satisfies PushDiskImageOptions;
}

function shell(command: string, args: string[], input?: Buffer): Buffer {
  return execFileSync(command, args, { input, maxBuffer: 256 * MiB });
}

const sha256Of = (bytes: Buffer) => shell('sha256sum', [], bytes).toString().split(' ')[0];

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'datapath-'));
  // Not a multiple of any block or chunk size, with random, text and zero regions.
  disk = await writeDisk(path.join(work, 'rootdisk.img'), { size: 21 * MiB + 4321, seed: 'datapath' });
  exportServer = await serveDiskFile(disk.path);
  registry = await startRegistry();
  crane = await craneFor(registry);
});

afterAll(async () => {
  crane?.cleanup();
  await registry?.stop();
  await exportServer?.stop();
  rmSync(work, { recursive: true, force: true });
});

afterEach(() => {
  exportServer.setFaults({});
  registry.faults?.clear();
});

describe('pushDiskImage', () => {
  let first: Awaited<ReturnType<typeof pushDiskImage>>;

  it('pushes a containerDisk that crane reads back: one layer with exactly disk/ and disk/disk.img', async () => {
    const progress: Progress[] = [];
    first = await pushDiskImage({
      ...pushOptions(clientFor(registry, 'vms/web-01'), 'nightly'),
      diskSha256: true,
      onProgress: (p) => progress.push(p),
    });
    const ref = `${registry.host}/vms/web-01:nightly`;

    expect(await crane.digest(ref)).toBe(first.digest);
    expect(first.reference).toBe(`${registry.host}/vms/web-01@${first.digest}`);
    expect(first.diskSha256).toBe(`sha256:${disk.sha256}`);
    expect(progress.at(-1)).toEqual({ bytesDone: disk.size, bytesTotal: disk.size });

    const manifest = (await crane.manifest(ref)) as {
      mediaType: string;
      config: { mediaType: string; digest: string };
      layers: { mediaType: string; digest: string; size: number }[];
      annotations: Record<string, string>;
    };
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
    expect(manifest.layers).toHaveLength(1);
    expect(manifest.layers[0]).toMatchObject({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: first.layerDigest,
      size: first.layerSize,
    });
    expect(manifest.annotations).toEqual({
      'org.opencontainers.image.created': '2026-11-27T10:00:00.000Z',
      'org.opencontainers.image.title': 'web-01 nightly',
      'serverimage.io/source.namespace': 'prod',
      'serverimage.io/source.name': 'web-01',
      'serverimage.io/source.uid': 'vm-uid-1',
      'serverimage.io/volume': 'rootdisk',
      'serverimage.io/metadata.os_distro': 'fedora',
      'serverimage.io/metadata.hw%3Acpu%20policy': 'dedicated',
    });

    const config = (await crane.config(ref)) as Record<string, unknown>;
    expect(config).toMatchObject({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [first.diffId] },
    });

    // The layer blob, checked by tools we did not write: GNU gzip and GNU tar.
    const blob = await crane.blob(`${registry.host}/vms/web-01`, first.layerDigest);
    const layerTar = shell('gzip', ['-dc'], blob);
    expect(`sha256:${sha256Of(layerTar)}`).toBe(first.diffId);
    const tarFile = path.join(work, 'layer.tar');
    writeFileSync(tarFile, layerTar);
    const listing = shell('tar', ['-tvf', tarFile, '--numeric-owner'])
      .toString()
      .trim()
      .split('\n')
      .map((line) => line.split(/\s+/));
    expect(listing.map((f) => [f[0], f[1], f.at(-1)])).toEqual([
      ['dr-xr-xr-x', '107/107', 'disk/'],
      ['-r--r--r--', '107/107', 'disk/disk.img'],
    ]);
    expect(sha256Of(shell('tar', ['-xOf', tarFile, 'disk/disk.img']))).toBe(disk.sha256);

    // The layer holds every kind of gzip member the encoder writes (zero, stored,
    // Huffman-only, zlib): Go's reader (crane), GNU gzip and tar take them all.
    const kinds = new Set<string>();
    const diskBytes = readFileSync(disk.path);
    for (let at = 0; at < diskBytes.length; at += MiB)
      for (const run of createBlockEncoder().runsOf(diskBytes.subarray(at, at + MiB))) kinds.add(run.kind);
    expect([...kinds].sort()).toEqual(['compress', 'huffman', 'store', 'zeros']);

    // crane's own view of the image's filesystem holds the same disk.
    const exported = path.join(work, 'export.tar');
    writeFileSync(exported, await crane.exportTar(ref));
    expect(sha256Of(shell('tar', ['-xOf', exported, 'disk/disk.img']))).toBe(disk.sha256);
  });

  it('resumes a dropped export connection with Range and pushes the same bytes', async () => {
    exportServer.setFaults({ dropAfterBytes: 5 * MiB });
    const resumedAt: number[] = [];
    const options = pushOptions(clientFor(registry, 'vms/web-01'), 'resumed');
    const result = await pushDiskImage({
      ...options,
      diskSha256: true,
      source: { ...options.source, onResume: ({ offset }) => resumedAt.push(offset) },
    });
    // Each connection is cut after 5 MiB on the wire, so it brought a little less body
    // (TLS handshake, headers and record framing count): four resumes for 21 MiB.
    expect(resumedAt).toHaveLength(4);
    resumedAt.forEach((offset, i) => {
      const gained = offset - (resumedAt[i - 1] ?? 0);
      expect(gained).toBeLessThan(5 * MiB);
      expect(gained).toBeGreaterThan(5 * MiB - 64 * 1024);
    });
    // Same disk, same request: the very same layer and image as without faults.
    expect(result.diffId).toBe(first.diffId);
    expect(result.layerDigest).toBe(first.layerDigest);
    expect(result.digest).toBe(first.digest);
  });

  it('rides out a registry answering 503 for a while', async () => {
    // Counted, not timed: on a loaded machine the first PATCH came after a 700 ms window
    // had closed (opening the real export server's TLS connection is part of the wait).
    registry.faults!.respond(503, { method: 'PATCH', times: 3 });
    const result = await pushDiskImage(pushOptions(clientFor(registry, 'vms/flaky'), 'nightly'));
    expect(registry.requests.filter((r) => r.injected && r.status === 503)).toHaveLength(3);
    expect(await crane.digest(`${registry.host}/vms/flaky:nightly`)).toBe(result.digest);
    expect(result.layerDigest).toBe(first.layerDigest);
  });

  it('zstd: the layer is tar+zstd and crane reads the disk back', async () => {
    const result = await pushDiskImage({
      ...pushOptions(clientFor(registry, 'vms/zstd'), 'nightly'),
      compression: 'zstd',
    });
    const ref = `${registry.host}/vms/zstd:nightly`;
    const manifest = (await crane.manifest(ref)) as { layers: { mediaType: string }[] };
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar+zstd']);
    expect(result.diffId).toBe(first.diffId);
    const exported = path.join(work, 'export-zstd.tar');
    writeFileSync(exported, await crane.exportTar(ref));
    expect(sha256Of(shell('tar', ['-xOf', exported, 'disk/disk.img']))).toBe(disk.sha256);
  });

  describe('qcow2', () => {
    let qcow2: Awaited<ReturnType<typeof pushDiskImage>>;
    let qcow2Sha: string;

    /** disk/disk.img of the image, as crane exports its filesystem, checked by qemu-img against the source disk. */
    async function expectQcow2OfDisk(ref: string, name: string): Promise<string> {
      const exported = path.join(work, `${name}.tar`);
      writeFileSync(exported, await crane.exportTar(ref));
      const file = path.join(work, `${name}.qcow2`);
      writeFileSync(file, shell('tar', ['-xOf', exported, 'disk/disk.img']));
      const check = qemuImg(['check', '-f', 'qcow2', file]);
      expect(check.stdout).toContain('No errors were found on the image.');
      expect(check.code).toBe(0);
      const compare = qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', disk.path, file]);
      expect(compare.stdout.trim()).toBe('Images are identical.');
      expect(compare.code).toBe(0);
      return sha256Of(readFileSync(file))!;
    }

    it('qcow2: qemu-img check is clean, compare says identical to the disk, only the non-zero clusters are in it', async () => {
      const progress: Progress[] = [];
      qcow2 = await pushDiskImage({
        ...pushOptions(clientFor(registry, 'vms/qcow2'), 'nightly'),
        diskFormat: 'qcow2',
        diskSha256: true,
        progressIntervalMs: 0,
        onProgress: (p) => progress.push(p),
      });
      const ref = `${registry.host}/vms/qcow2:nightly`;
      expect(qcow2).toMatchObject({ diskFormat: 'qcow2', size: disk.size });
      // Both reads counted; the raw disk's digest from the first.
      expect(qcow2.diskSha256).toBe(`sha256:${disk.sha256}`);
      expect(progress.at(-1)).toEqual({ bytesDone: disk.size, bytesTotal: disk.size });
      const done = progress.map((p) => p.bytesDone);
      expect(done).toEqual([...done].sort((a, b) => a - b));
      // Half of the disk is zeros (in 2 MiB runs): the file holds the rest and its tables.
      expect(qcow2.fileSize).toBeLessThan(disk.size * 0.6);
      // Blocks line up with the disk's bytes after the tables, as for raw: no larger a layer.
      expect(qcow2.layerSize).toBeLessThanOrEqual(first.layerSize);
      const manifest = (await crane.manifest(ref)) as { layers: { mediaType: string; digest: string }[] };
      expect(manifest.layers).toEqual([
        expect.objectContaining({
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: qcow2.layerDigest,
        }),
      ]);
      qcow2Sha = await expectQcow2OfDisk(ref, 'qcow2');
    });

    it('qcow2 + zstd: the layer is tar+zstd and holds the same qcow2 file', async () => {
      const result = await pushDiskImage({
        ...pushOptions(clientFor(registry, 'vms/qcow2'), 'zstd'),
        diskFormat: 'qcow2',
        compression: 'zstd',
      });
      const ref = `${registry.host}/vms/qcow2:zstd`;
      const manifest = (await crane.manifest(ref)) as { layers: { mediaType: string }[] };
      expect(manifest.layers.map((l) => l.mediaType)).toEqual([
        'application/vnd.oci.image.layer.v1.tar+zstd',
      ]);
      expect(result.diffId).toBe(qcow2.diffId);
      expect(await expectQcow2OfDisk(ref, 'qcow2-zstd')).toBe(qcow2Sha);
    });

    // The fault is armed for one pass only. Each pass counts for its share of the
    // reads, and until the map is known the second pass counts as a whole disk: so
    // progress reaches half the disk (rounded down) with the first pass's last chunk.
    it.each([
      ['the first pass (the map)', true],
      ['the second pass (the data)', false],
    ])('a connection dropped during %s is resumed and the image is the same', async (_what, firstPass) => {
      const resumedAt: number[] = [];
      let secondPass = false;
      exportServer.setFaults(firstPass ? { dropAfterBytes: 4 * MiB } : {});
      const options = pushOptions(clientFor(registry, 'vms/qcow2'), firstPass ? 'drop-1' : 'drop-2', {
        diskFormat: 'qcow2',
        diskSha256: true,
        progressIntervalMs: 0,
        onProgress: ({ bytesDone }) => {
          if (secondPass || bytesDone < Math.floor(disk.size / 2)) return;
          secondPass = true;
          exportServer.setFaults(firstPass ? {} : { dropAfterBytes: 3 * MiB });
        },
      });
      const result = await pushDiskImage({
        ...options,
        source: { ...options.source, onResume: ({ offset }) => resumedAt.push(offset) },
      });
      expect(secondPass).toBe(true);
      // The fault proxy cuts after N bytes on the wire (TLS framing and HTTP headers
      // included), so each connection brings a little less than N of the disk.
      // Zero runs of 2 MiB are read through, not skipped: one range, the whole disk.
      const cut = (firstPass ? 4 : 3) * MiB;
      expect(resumedAt).toHaveLength(firstPass ? 5 : 7);
      resumedAt.forEach((offset, i) => {
        const delivered = offset - (resumedAt[i - 1] ?? 0);
        expect(delivered).toBeGreaterThan(cut - 128 * 1024);
        expect(delivered).toBeLessThanOrEqual(cut);
      });
      expect(result.diffId).toBe(qcow2.diffId);
      expect(result.layerDigest).toBe(qcow2.layerDigest);
      expect(result.digest).toBe(qcow2.digest);
    });
  });

  it('an export that breaks for good fails with ExportTruncated and leaves no upload session open', async () => {
    exportServer.setFaults({ dropAfterBytes: 9 * MiB });
    const options = pushOptions(clientFor(registry, 'vms/broken'), 'nightly');
    const error = await pushDiskImage({ ...options, source: { ...options.source, retries: 0 } }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(DataPathError);
    expect(error).toMatchObject({ reason: 'ExportTruncated', retryable: true });
    // An upload session was open when the export broke; it was cancelled.
    const methods = registry.requests
      .filter((r) => r.path.includes('/vms/broken/blobs/uploads/'))
      .map((r) => r.method);
    expect(methods[0]).toBe('POST');
    expect(methods.at(-1)).toBe('DELETE');
    expect(registry.openUploads()).toEqual([]);
  });

  it('an aborted push stops the stream, deletes its upload session and leaves no worker threads', async () => {
    const controller = new AbortController();
    const options = pushOptions(clientFor(registry, 'vms/aborted'), 'nightly', {
      signal: controller.signal,
      progressIntervalMs: 0,
      // Abort once part of the disk went through, with the upload session open.
      onProgress: ({ bytesDone }) => {
        if (bytesDone > 6 * MiB) controller.abort(new Error('push cancelled'));
      },
    });
    await expect(pushDiskImage(options)).rejects.toThrow('push cancelled');
    const methods = registry.requests
      .filter((r) => r.path.includes('/vms/aborted/blobs/uploads/'))
      .map((r) => r.method);
    expect(methods[0]).toBe('POST');
    expect(methods.at(-1)).toBe('DELETE');
    expect(registry.openUploads()).toEqual([]);
    expect(compressionPoolUsers()).toBe(0);
  });

  it('a registry that stays down fails with RegistryUnavailable and leaves no upload session open', async () => {
    registry.faults!.respond(503, { method: 'PATCH', forMs: 60_000 });
    const error = await pushDiskImage(pushOptions(clientFor(registry, 'vms/down'), 'nightly')).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ reason: 'RegistryUnavailable', retryable: true });
    registry.faults!.clear();
    expect(registry.openUploads()).toEqual([]);
  });
});

describe('pushDiskImage with registry credentials', () => {
  let basic: TestRegistry;
  beforeAll(async () => (basic = await startRegistry({ auth: 'basic' })));
  afterAll(async () => basic?.stop());

  it('pushes with the right password', async () => {
    const result = await pushDiskImage(pushOptions(clientFor(basic, 'vms/web-01'), 'nightly'));
    const authed = await craneFor(basic);
    try {
      expect(await authed.digest(`${basic.host}/vms/web-01:nightly`)).toBe(result.digest);
    } finally {
      authed.cleanup();
    }
  });

  it('fails with RegistryUnauthorized on a wrong password, without a retry storm', async () => {
    const before = basic.requests.length;
    const error = await pushDiskImage(pushOptions(clientFor(basic, 'vms/web-01', 'wrong'), 'denied')).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ reason: 'RegistryUnauthorized', retryable: false });
    expect(basic.requests.length - before).toBeLessThanOrEqual(3);
    expect(basic.openUploads()).toEqual([]);
  });
});
