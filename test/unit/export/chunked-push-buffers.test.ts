// The chunked push's lean parts without a registry: the pooled chunk buffers (same cut as
// fixedChunks, buffers reused, reading waits while all are held), the whole-disk hash on
// its own thread, and zstd's one-piece output (the same frame as zlib's default pieces).
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { ChunkBufferPool, pooledChunks } from '../../../src/export/chunked/chunk-buffers.js';
import { CHUNK_ZSTD_LEVEL, compressChunk } from '../../../src/export/chunked/chunk-codec.js';
import { DiskHasher, InlineDiskHasher, wholeDiskHasher } from '../../../src/export/chunked/disk-hasher.js';
import { fixedChunks } from '../../../src/export/chunked/index.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  // Reuses one buffer, as the export source does: a consumer must copy.
  const scratch = Buffer.alloc(size);
  for (let at = 0; at < data.length; at += size) {
    const n = data.copy(scratch, 0, at, Math.min(at + size, data.length));
    yield scratch.subarray(0, n);
  }
}

describe('pooledChunks', () => {
  it('cuts as fixedChunks does, into a few reused shared buffers', async () => {
    const data = randomBytes(5 * MiB + 777);
    const expected: string[] = [];
    for await (const c of fixedChunks({ size: data.length, body: pieces(data, 100_000) }, MiB))
      expected.push(sha(c));
    const pool = new ChunkBufferPool(MiB, 2);
    const got: string[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for await (const chunk of pooledChunks({ size: data.length, body: pieces(data, 100_000) }, MiB, pool)) {
      got.push(sha(chunk.bytes));
      buffers.add(chunk.bytes.buffer);
      expect(chunk.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
      chunk.release();
    }
    expect(got).toEqual(expected);
    expect(buffers.size).toBeLessThanOrEqual(2);
  });

  it('waits for a buffer while all are held, and goes on when one is released', async () => {
    const data = randomBytes(3 * MiB);
    const pool = new ChunkBufferPool(MiB, 1);
    const chunks = pooledChunks({ size: data.length, body: pieces(data, 64 * 1024) }, MiB, pool);
    const first = (await chunks.next()).value as { bytes: Buffer; release: () => void };
    let second = false;
    const next = chunks.next().then((r) => {
      second = true;
      return r;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(second).toBe(false);
    expect(first.bytes.equals(data.subarray(0, MiB))).toBe(true);
    first.release();
    const r = await next;
    expect(r.done).toBe(false);
  });
});

describe('DiskHasher', () => {
  it('hashes shared buffers on its thread as createHash would, and frees each after', async () => {
    const data = randomBytes(3 * MiB + 5);
    const shared = Buffer.from(new SharedArrayBuffer(data.length));
    data.copy(shared);
    const hasher = new DiskHasher();
    try {
      await Promise.all([
        hasher.update(shared.subarray(0, MiB)),
        hasher.update(shared.subarray(MiB, 3 * MiB)),
        hasher.update(shared.subarray(3 * MiB)),
      ]);
      expect(await hasher.digest()).toBe(sha(data));
    } finally {
      await hasher.close();
    }
  });

  it('hashes on the calling thread alike where there is no core for a thread', async () => {
    const data = randomBytes(2 * MiB + 3);
    const inline = wholeDiskHasher(false);
    expect(inline).toBeInstanceOf(InlineDiskHasher);
    await inline.update(data.subarray(0, MiB));
    await inline.update(data.subarray(MiB));
    expect(await inline.digest()).toBe(sha(data));
    const threaded = wholeDiskHasher(true);
    try {
      expect(threaded).toBeInstanceOf(DiskHasher);
    } finally {
      await threaded.close();
    }
  });

  it('refuses bytes that are not shared (they would be copied)', async () => {
    const hasher = new DiskHasher();
    try {
      expect(() => hasher.update(Buffer.alloc(10))).toThrow(/SharedArrayBuffer/);
    } finally {
      await hasher.close();
    }
  });
});

describe('compressChunk in one piece', () => {
  it('gives the frame zlib gives in its default 16 KiB pieces, byte for byte', async () => {
    const defaultPieces = promisify(zlib.zstdCompress);
    const params = {
      [zlib.constants.ZSTD_c_compressionLevel]: CHUNK_ZSTD_LEVEL,
      [zlib.constants.ZSTD_c_contentSizeFlag]: 1,
      [zlib.constants.ZSTD_c_checksumFlag]: 1,
      [zlib.constants.ZSTD_c_nbWorkers]: 0,
    };
    const text = Buffer.from('a disk of text and random bytes '.repeat(40000));
    for (const input of [
      Buffer.concat([text, randomBytes(MiB), text]),
      randomBytes(4 * MiB),
      Buffer.alloc(10),
      text.subarray(0, 100_000),
    ]) {
      const one = await compressChunk(input);
      expect(one.equals(await defaultPieces(input, { params }))).toBe(true);
    }
  });
});
