// Chunked disks against the real Distribution, read by the real crane: a first backup
// stores every non-zero chunk, a second one of a slightly changed disk uploads only the
// changed chunks and reuses the rest, both read back byte-exact; a backup materializes
// into a containerDisk image whose disk/disk.img is the backup's disk; and deleting one
// backup's manifest breaks no other, while Distribution's garbage collection then keeps
// exactly the chunks a kept backup references.
import { createHash, randomBytes } from 'node:crypto';
import { zstdDecompressSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { Readable } from 'node:stream';
import { craneFor, type Crane } from '../harness/crane.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { RegistryClient } from '../../src/registry/index.js';
import {
  CHUNK_ANNOTATION,
  CHUNKED,
  chunkedDiskBytes,
  materializeChunkedDisk,
  openChunkedDisk,
  pushChunkedDisk,
  verifyChunkedDisk,
  type PushedChunkedDisk,
} from '../../src/export/chunked/index.js';

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const DISK = 64 * MiB;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A 64 MiB disk: chunks 0-9 data (half random, half text), 10-15 zeros. */
function firstDisk(): Buffer {
  const disk = Buffer.alloc(DISK);
  const text = Buffer.from('log line: the quick brown fox jumps over the lazy dog\n'.repeat(40_000));
  for (let c = 0; c < 10; c++) {
    randomBytes(CHUNK / 2).copy(disk, c * CHUNK);
    text.copy(disk, c * CHUNK + CHUNK / 2, 0, CHUNK / 2);
  }
  return disk;
}

async function* pieces(data: Buffer, size = 256 * 1024): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, Math.min(at + size, data.length));
}

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of body) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

/** The bytes of disk/disk.img in a containerDisk image, as crane exports its filesystem. */
async function diskImgOf(crane: Crane, ref: string): Promise<Buffer> {
  const tar = await crane.exportTar(ref);
  const found = await new Promise<Buffer | undefined>((resolve, reject) => {
    const ex = extract();
    let disk: Buffer | undefined;
    ex.on('entry', (header, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (d: unknown) => parts.push(d as Buffer));
      stream.on('end', () => {
        if (header.name.replace(/^\.?\//, '') === 'disk/disk.img') disk = Buffer.concat(parts);
        next();
      });
    });
    ex.on('finish', () => resolve(disk));
    ex.on('error', reject);
    Readable.from([tar]).pipe(ex);
  });
  if (!found) throw new Error(`${ref} has no disk/disk.img`);
  return found;
}

describe('chunked disks on a real registry', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  let crane: Crane;
  const repo = 'backups/web-01';

  beforeAll(async () => {
    registry = await startRegistry();
    client = new RegistryClient({ repository: `${registry.host}/${repo}`, insecure: true });
    crane = await craneFor(registry);
  });
  afterAll(async () => {
    await client?.close();
    crane?.cleanup();
    await registry?.stop();
  });

  const push = (disk: Buffer, tag: string, previous: string[] = []): Promise<PushedChunkedDisk> =>
    pushChunkedDisk({
      disk: { size: disk.length, body: pieces(disk) },
      registry: client,
      tag,
      imageName: `web-01 ${tag}`,
      sourceVm: { namespace: 'prod', name: 'web-01', uid: 'uid-1' },
      volume: 'rootdisk',
      chunkSize: CHUNK,
      previous,
      created: new Date('2026-12-01T00:00:00Z'),
    });

  const day1 = firstDisk();
  const day2 = Buffer.from(day1);
  // A file rewritten inside chunk 3, and a new file in the empty chunk 12.
  randomBytes(64 * 1024).copy(day2, 3 * CHUNK + 100_000);
  randomBytes(300_000).copy(day2, 12 * CHUNK + 4096);
  let first: PushedChunkedDisk;
  let second: PushedChunkedDisk;

  it('stores the non-zero chunks of a first backup, with offset, length and sha256 on each layer', async () => {
    first = await push(day1, 'day1');
    expect(first.chunks).toEqual({ total: 16, zero: 6, uploaded: 10, reused: 0 });
    expect(first.diskSha256).toBe(sha(day1));
    expect(first.bytes.reused).toBe(0);

    const manifest = (await crane.manifest(`${registry.host}/${repo}:day1`)) as {
      artifactType: string;
      config: { mediaType: string };
      layers: { mediaType: string; digest: string; annotations: Record<string, string> }[];
    };
    expect(manifest.artifactType).toBe(CHUNKED.artifactType);
    expect(manifest.config.mediaType).toBe(CHUNKED.config);
    expect(manifest.layers.map((l) => Number(l.annotations[CHUNK_ANNOTATION.offset]))).toEqual(
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((c) => c * CHUNK),
    );
    // crane reads a chunk; node's zstd, not our reader, decompresses it.
    const layer = manifest.layers[3]!;
    const chunk = zstdDecompressSync(await crane.blob(`${registry.host}/${repo}`, layer.digest));
    expect(chunk.equals(day1.subarray(3 * CHUNK, 4 * CHUNK))).toBe(true);
    expect(layer.annotations[CHUNK_ANNOTATION.sha256]).toBe(sha(chunk));
    expect(layer.annotations[CHUNK_ANNOTATION.length]).toBe(String(CHUNK));
  });

  it('uploads only the changed chunks of a second backup and reuses the others', async () => {
    const before = registry.requests.length;
    second = await push(day2, 'day2', ['day1']);
    expect(second.chunks).toEqual({ total: 16, zero: 5, uploaded: 2, reused: 9 });
    expect(second.indexedFrom).toEqual(['day1']);
    // Reused chunks are HEADed, never sent: two chunk PUTs (and the config's, and the manifest's).
    const puts = registry.requests
      .slice(before)
      .filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/'));
    expect(puts).toHaveLength(3);
    const reusedOfFirst = first.bytes.uploaded - second.bytes.reused;
    expect(reusedOfFirst).toBeGreaterThan(0); // the changed chunk 3's old bytes
    expect(second.bytes.uploaded).toBeLessThan(first.bytes.uploaded / 3);
  });

  it('reads both back byte-exact, every blob present and every sha256 as recorded', async () => {
    for (const [tag, disk] of [
      ['day1', day1],
      ['day2', day2],
    ] as const) {
      const verified = await verifyChunkedDisk(client, tag);
      expect(verified.diskSha256).toBe(sha(disk));
      const opened = await openChunkedDisk(client, tag);
      expect((await readAll(chunkedDiskBytes(client, opened))).equals(disk)).toBe(true);
    }
  });

  it('gives the same blobs for the same disk, so a second repository push stores nothing new', async () => {
    const again = await push(day2, 'day2-again');
    expect(again.chunks.uploaded).toBe(0);
    expect(again.chunks.reused).toBe(11);
  });

  it('materializes a backup into a containerDisk image holding exactly its disk', async () => {
    const image = await materializeChunkedDisk({ registry: client, reference: 'day2', tag: 'day2-disk' });
    expect(image.diskSha256).toBe(sha(day2));
    expect(image.from).toBe(second.digest);
    const disk = await diskImgOf(crane, `${registry.host}/${repo}:day2-disk`);
    expect(disk.equals(day2)).toBe(true);
  });

  it('refuses to reassemble a backup whose chunk was tampered with', async () => {
    const opened = await openChunkedDisk(client, 'day2');
    const wrong = {
      ...opened,
      chunks: opened.chunks.map((c, i) => (i === 1 ? { ...c, sha256: sha(Buffer.from('x')) } : c)),
    };
    await expect(readAll(chunkedDiskBytes(client, wrong))).rejects.toThrow(/chunk at offset/);
  });

  it('survives the deletion of another backup; garbage collection keeps exactly the chunks kept backups reference', async () => {
    const day1Chunks = (await openChunkedDisk(client, 'day1')).chunks.map((c) => c.digest);
    await client.deleteManifest(first.digest);
    await client.deleteManifest((await client.getManifest('day2-disk')).digest);
    // Kept: day2 and day2-again (the same chunks and config, another manifest).
    const expected = new Set<string>();
    for (const tag of ['day2', 'day2-again']) {
      const manifest = await client.getManifest(tag);
      const opened = await openChunkedDisk(client, tag);
      const config = (JSON.parse(manifest.body.toString()) as { config: { digest: string } }).config.digest;
      for (const d of [manifest.digest, config, ...opened.chunks.map((c) => c.digest)]) expected.add(d);
    }
    await registry.garbageCollect();
    expect(new Set(registry.storedBlobs())).toEqual(expected);
    // Day 1's version of chunk 3 was its only chunk no kept backup references.
    expect(day1Chunks.filter((d) => !expected.has(d))).toHaveLength(1);
    expect((await verifyChunkedDisk(client, 'day2')).diskSha256).toBe(sha(day2));
  });
});
