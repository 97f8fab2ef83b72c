import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { createIntoCompressor, type IntoFormat } from '../../../src/export/zlib-into.js';

const level = zlib.constants.ZSTD_c_compressionLevel;
/** Text with repeats (zlib's match search has work) followed by noise. */
const words = Array.from({ length: 300 }, (_, i) => `w${(i * 7919).toString(36)}`);
const blocks = [0, 1, 2].map((seed) =>
  Buffer.concat([
    Buffer.from(Array.from({ length: 60_000 }, (_, i) => words[(i * 2654435761 + seed) % 299]!).join(' ')),
    randomBytes(100_000),
  ]),
);

/** What node:zlib's own one-shot functions make of it. */
function reference(format: IntoFormat, input: Buffer, lvl: number): Buffer {
  if (format === 'zstd') return zlib.zstdCompressSync(input, { params: { [level]: lvl } });
  const options = { level: lvl, memLevel: 9, chunkSize: input.length + 1024 };
  return format === 'gzip' ? zlib.gzipSync(input, options) : zlib.deflateRawSync(input, options);
}

describe('createIntoCompressor', () => {
  it.each([
    ['gzip', 1],
    ['gzip', 6],
    ['deflateRaw', 1],
    ['zstd', 3],
    ['zstd', 9],
  ] as [IntoFormat, number][])(
    '%s level %i: writes into the given buffer, block after block, the bytes node:zlib makes',
    (format, lvl) => {
      const compressor = createIntoCompressor(format, { level: lvl, memLevel: 9 });
      // This Node (the pinned one) has the handle: no allocation per call.
      expect(compressor.direct).toBe(true);
      const output = Buffer.alloc(400_000, 0xee);
      for (const block of blocks) {
        const at = 17;
        const end = compressor.compress(block, output, at, output.length);
        expect(output.subarray(at, end).equals(reference(format, block, lvl))).toBe(true);
        // Nothing before `at` is touched.
        expect(output.subarray(0, at).every((b) => b === 0xee)).toBe(true);
      }
    },
  );

  it.each(['gzip', 'zstd'] as IntoFormat[])(
    '%s: says -1 when the room is too small, then works again',
    (format) => {
      const compressor = createIntoCompressor(format, { level: 1 });
      const output = Buffer.alloc(400_000);
      expect(compressor.compress(blocks[0]!, output, 0, 1000)).toBe(-1);
      const end = compressor.compress(blocks[1]!, output, 0, output.length);
      const back =
        format === 'zstd'
          ? zlib.zstdDecompressSync(output.subarray(0, end))
          : zlib.gunzipSync(output.subarray(0, end));
      expect(back.equals(blocks[1]!)).toBe(true);
    },
  );

  it('falls back to the one-shot functions (another Node) with the same bytes', () => {
    const compressor = createIntoCompressor('gzip', { level: 1, memLevel: 9, fallback: true });
    expect(compressor.direct).toBe(false);
    const output = Buffer.alloc(400_000);
    const end = compressor.compress(blocks[0]!, output, 5, output.length);
    expect(output.subarray(5, end).equals(reference('gzip', blocks[0]!, 1))).toBe(true);
    expect(compressor.compress(blocks[0]!, output, 0, 100)).toBe(-1);
  });
});
