import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { loadBlockEncoder } from '../../../src/export/block-encoder.js';
import {
  acquireCompressionPool,
  CompressionPool,
  compressionPoolUsers,
} from '../../../src/export/compression-pool.js';
import { compressInBlocks } from '../../../src/export/parallel-compress.js';

const { outputBound } = loadBlockEncoder();

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
