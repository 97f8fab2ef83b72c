import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { createBlockEncoder } from '../../../src/export/block-encoder.js';
import {
  acquireCompressionPool,
  CompressionPool,
  compressionPoolUsers,
} from '../../../src/export/compression-pool.js';
import { compressInBlocks } from '../../../src/export/parallel-compress.js';

const { outputBound } = createBlockEncoder();

function job(bytes: Buffer) {
  const input = new ArrayBuffer(bytes.length);
  Buffer.from(input).set(bytes);
  return { input, length: bytes.length, output: new ArrayBuffer(outputBound(bytes.length)) };
}

async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('CompressionPool', () => {
  it('encodes in a worker thread and hands both buffers back', async () => {
    const pool = new CompressionPool({ size: 2 });
    try {
      const data = Buffer.concat([Buffer.from('abc'.repeat(100_000)), randomBytes(300_000)]);
      const sent = job(data);
      const outputBytes = sent.output.byteLength;
      const result = await pool.encode({ ...sent, options: { algorithm: 'gzip', level: 1 } });
      // Transferred, not copied: the sender's buffers are detached meanwhile.
      expect(sent.input.byteLength).toBe(0);
      expect(result.input.byteLength).toBe(data.length);
      expect(result.output.byteLength).toBe(outputBytes);
      expect(gunzipSync(Buffer.from(result.output, 0, result.length)).equals(data)).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('fails a job whose output buffer is too small, and keeps working', async () => {
    const pool = new CompressionPool({ size: 1 });
    try {
      const data = randomBytes(100_000);
      const tooSmall = { ...job(data), output: new ArrayBuffer(1000) };
      await expect(pool.encode({ ...tooSmall, options: { algorithm: 'gzip', level: 1 } })).rejects.toThrow(
        /output buffer too small/,
      );
      const result = await pool.encode({ ...job(data), options: { algorithm: 'gzip', level: 1 } });
      expect(gunzipSync(Buffer.from(result.output, 0, result.length)).equals(data)).toBe(true);
    } finally {
      await pool.close();
    }
  });

  /** Words drawn at random: matches for zlib's search to find, the slow path, ~10 ms per block. */
  const words = Array.from({ length: 500 }, (_, i) => `w${(i * 7919).toString(36)}`);
  const prose = Buffer.from(
    Array.from({ length: 250_000 }, (_, i) => words[(i * 2654435761) % 499]!).join(' '),
  ).subarray(0, 1024 * 1024);
  /** Keeps `inFlight` jobs going (each lane reuses its buffers, as compressInBlocks does) until `until()` or `jobs` are done. */
  const encodeAll = (pool: CompressionPool, jobs: number, inFlight: number, until = () => false) => {
    let next = 0;
    const lane = async () => {
      let { input, output } = job(prose);
      while (next++ < jobs && !until()) {
        ({ input, output } = await pool.encode({
          input,
          length: prose.length,
          output,
          options: { algorithm: 'gzip', level: 1 },
        }));
      }
    };
    return Promise.all(Array.from({ length: inFlight }, lane));
  };

  it('grows to maxSize while every worker is busy, gets its CPU and jobs wait', async () => {
    const pool = new CompressionPool({ size: 1, maxSize: 2, growWindowMs: 50 });
    try {
      // Up to 100 windows: one in which another process took the CPU breaks the run of three.
      await encodeAll(pool, 5000, 4, () => pool.size === 2);
      expect(pool.size).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('does not grow while one job at a time leaves the worker idle in between', async () => {
    const pool = new CompressionPool({ size: 1, maxSize: 2, growWindowMs: 50 });
    try {
      for (let i = 0; i < 10; i++) {
        await encodeAll(pool, 1, 1);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(pool.size).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('refuses work once closed', async () => {
    const pool = new CompressionPool({ size: 1 });
    await pool.close();
    await expect(
      pool.encode({ ...job(Buffer.from('x')), options: { algorithm: 'gzip', level: 1 } }),
    ).rejects.toThrow(/closed/);
  });
});

describe('the shared pool', () => {
  it('is shared by concurrent users and terminated when the last one releases it', async () => {
    const a = acquireCompressionPool();
    const b = acquireCompressionPool();
    expect(a.pool).toBe(b.pool);
    expect(compressionPoolUsers()).toBe(2);
    await a.release();
    await a.release(); // twice is harmless
    expect(compressionPoolUsers()).toBe(1);
    await b.release();
    expect(compressionPoolUsers()).toBe(0);
    await expect(
      a.pool.encode({ ...job(Buffer.from('x')), options: { algorithm: 'gzip', level: 1 } }),
    ).rejects.toThrow(/closed/);
    const c = acquireCompressionPool();
    expect(c.pool).not.toBe(a.pool);
    await c.release();
  });

  it('is released by compressInBlocks when the stream ends, fails or is abandoned', async () => {
    const data = randomBytes(600_000);
    for await (const _ of compressInBlocks(chunked(data, 50_000), {
      algorithm: 'gzip',
      blockSize: 100_000,
    })) {
      expect(compressionPoolUsers()).toBe(1);
    }
    expect(compressionPoolUsers()).toBe(0);

    async function* failing(): AsyncGenerator<Buffer> {
      yield data;
      throw new Error('source broke');
    }
    await expect(
      (async () => {
        for await (const _ of compressInBlocks(failing(), { algorithm: 'gzip', blockSize: 100_000 }));
      })(),
    ).rejects.toThrow('source broke');
    expect(compressionPoolUsers()).toBe(0);

    for await (const _ of compressInBlocks(chunked(data, 50_000), {
      algorithm: 'gzip',
      blockSize: 100_000,
    })) {
      break;
    }
    expect(compressionPoolUsers()).toBe(0);
  });
});
