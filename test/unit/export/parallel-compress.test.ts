import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createBlockEncoder } from '../../../src/export/block-encoder.js';
import { compressInBlocks } from '../../../src/export/parallel-compress.js';

const { runsOf, entropyBitsPerByte } = createBlockEncoder();

/** Copies each output: compressInBlocks reuses its buffers once the next one is asked for. */
async function collect(source: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(Buffer.from(chunk));
  return chunks;
}

async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** Random, text-like and zero regions, like a real disk. */
function mixedData(): Buffer {
  const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(30000));
  return Buffer.concat([randomBytes(700_000), text, Buffer.alloc(900_000), randomBytes(123_457)]);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('compressInBlocks', () => {
  const data = mixedData();

  it('gzip: gunzip of the concatenated members gives the input back', async () => {
    const output = Buffer.concat(
      await collect(
        compressInBlocks(chunked(data, 10_000), { algorithm: 'gzip', blockSize: 256 * 1024, concurrency: 3 }),
      ),
    );
    expect(output.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(sha(gunzipSync(output))).toBe(sha(data));
    // GNU gzip, an independent reader, agrees (it reads concatenated members too).
    expect(sha(execFileSync('gzip', ['-dc'], { input: output, maxBuffer: 64 << 20 }))).toBe(sha(data));
  });

  it('gzip: shrinks compressible data and stores random data without growing it much', async () => {
    const text = Buffer.from('lorem ipsum dolor sit amet '.repeat(100_000));
    const packedText = Buffer.concat(
      await collect(compressInBlocks(chunked(text, 65536), { algorithm: 'gzip' })),
    );
    expect(packedText.length).toBeLessThan(text.length / 10);

    const random = randomBytes(2 * 1024 * 1024);
    const packedRandom = Buffer.concat(
      await collect(compressInBlocks(chunked(random, 65536), { algorithm: 'gzip', blockSize: 512 * 1024 })),
    );
    expect(packedRandom.length).toBeLessThan(random.length * 1.01);
    expect(gunzipSync(packedRandom).equals(random)).toBe(true);
  });

  // Node's own zstd decoder stops after the first frame; the zstd tool (like Go's
  // klauspost/compress in containerd) reads them all, as the format says.
  it('zstd: frames concatenate into one stream that the zstd tool decompresses to the input', async () => {
    const frames = await collect(
      compressInBlocks(chunked(data, 10_000), { algorithm: 'zstd', blockSize: 300_000, concurrency: 2 }),
    );
    const decoded = execFileSync('zstd', ['-dc'], { input: Buffer.concat(frames), maxBuffer: 64 << 20 });
    expect(sha(decoded)).toBe(sha(data));
  });

  it('is deterministic: same input and block size, same bytes', async () => {
    const a = Buffer.concat(
      await collect(compressInBlocks(chunked(data, 777), { algorithm: 'gzip', blockSize: 100_000 })),
    );
    const b = Buffer.concat(
      await collect(
        compressInBlocks(chunked(data, 65536), { algorithm: 'gzip', blockSize: 100_000, concurrency: 1 }),
      ),
    );
    expect(a.equals(b)).toBe(true);
  });

  it('cuts the first block at firstBlockSize, then at blockSize: blocks line up with the disk after a header', async () => {
    const header = Buffer.alloc(1024, 'h');
    const disk = Buffer.concat([Buffer.alloc(256 * 1024), randomBytes(256 * 1024), Buffer.alloc(100)]);
    const blocks: number[] = [];
    const output = await collect(
      compressInBlocks(chunked(Buffer.concat([header, disk]), 5000), {
        algorithm: 'gzip',
        blockSize: 256 * 1024,
        firstBlockSize: header.length,
        onBlock: (block) => blocks.push(block.length),
      }),
    );
    expect(blocks).toEqual([1024, 256 * 1024, 256 * 1024, 100]);
    expect(gunzipSync(Buffer.concat(output)).equals(Buffer.concat([header, disk]))).toBe(true);
    // The zero block is one whole zero segment (a member made ahead of time), not a compressed run.
    expect(runsOf(disk.subarray(0, 256 * 1024)).map((r) => r.kind)).toEqual(['zeros']);
  });

  it('handles empty input', async () => {
    expect(await collect(compressInBlocks(chunked(Buffer.alloc(0), 1), { algorithm: 'gzip' }))).toEqual([]);
  });

  it('passes a source failure on', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield randomBytes(1000);
      throw new Error('source broke');
    }
    await expect(collect(compressInBlocks(failing(), { algorithm: 'gzip', blockSize: 100 }))).rejects.toThrow(
      'source broke',
    );
  });
});

describe('the store-or-compress decision', () => {
  it('measures random bytes near 8 bits per byte, text far below, zeros at 0', () => {
    expect(entropyBitsPerByte(randomBytes(8192))).toBeGreaterThan(7.9);
    expect(
      entropyBitsPerByte(Buffer.from('the quick brown fox jumps over the lazy dog '.repeat(200))),
    ).toBeLessThan(5);
    expect(entropyBitsPerByte(Buffer.alloc(8192))).toBe(0);
  });

  it('drops LZ77 (Huffman only) where it finds nothing to gain, keeps it where it does', () => {
    const segment = 256 * 1024;
    // Letters drawn independently: no repeats for LZ77 to find, but a skewed histogram.
    const alphabet = Buffer.from('etaoinshrdlucmfwypvbgkqjxz      eeeeaaaattttoooonnnn\n\n..,,');
    const noise = Buffer.from(randomBytes(segment).map((b) => alphabet[b % alphabet.length]!));
    const prose = Buffer.from(
      'It was the best of times, it was the worst of times, it was the age of wisdom. '.repeat(3400),
    ).subarray(0, segment);
    expect(runsOf(Buffer.concat([noise, prose])).map((r) => r.kind)).toEqual(['huffman', 'compress']);
    // Either way the output is gzip, and no larger than level 1 would make it.
    const block = Buffer.concat([noise, prose]);
    const output = Buffer.alloc(createBlockEncoder().outputBound(block.length));
    const length = createBlockEncoder().encodeBlock(block, output, { algorithm: 'gzip', level: 1 });
    expect(gunzipSync(output.subarray(0, length)).equals(block)).toBe(true);
    expect(length).toBeLessThanOrEqual(gzipSync(block, { level: 1 }).length);
  });

  it('samples the whole segment, not its start: a few KiB of another region at the start do not decide', () => {
    const segment = 256 * 1024;
    const random = Buffer.concat([Buffer.alloc(4096), randomBytes(segment - 4096)]);
    const text = Buffer.concat([
      randomBytes(4096),
      Buffer.from('It was the best of times, it was the worst of times. '.repeat(5000)).subarray(
        0,
        segment - 4096,
      ),
    ]);
    expect(runsOf(random).map((r) => r.kind)).toEqual(['store']);
    expect(runsOf(text).map((r) => r.kind)).toEqual(['compress']);
  });

  it('stores runs of random segments, replaces zero segments, compresses the rest', () => {
    const segment = 256 * 1024;
    const block = Buffer.concat([
      randomBytes(2 * segment),
      Buffer.alloc(segment),
      Buffer.alloc(segment, 'a'),
      randomBytes(65536),
    ]);
    expect(runsOf(block).map((r) => [r.end - r.start, r.kind])).toEqual([
      [2 * segment, 'store'],
      [segment, 'zeros'],
      [segment, 'compress'],
      [65536, 'store'],
    ]);
  });
});

describe('compressInBlocks memory', () => {
  it('gives its blocks back to the allocator when the stream ends, not at a later collection', async () => {
    const piece = randomBytes(64 * 1024);
    async function* source(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 128; i++) yield piece; // 8 MiB, one buffer
    }
    const outputs = new Set<ArrayBufferLike>();
    let out = 0;
    for await (const chunk of compressInBlocks(source(), { algorithm: 'gzip', concurrency: 4 })) {
      out += chunk.length;
      outputs.add(chunk.buffer);
    }
    expect(out).toBeGreaterThan(8 * 1024 * 1024);
    // The blocks' output buffers, used in turn; detached (their memory freed) once the stream is done.
    expect(outputs.size).toBeGreaterThanOrEqual(2);
    for (const buffer of outputs) expect(buffer.byteLength).toBe(0);
  });
});
