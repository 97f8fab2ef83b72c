// Encodes one block of the layer tar as gzip members (or one zstd frame), all
// synchronously, into a caller's output buffer. This is the CPU-heavy part of
// the data path; it runs in worker threads (compression-worker.ts, started by
// compression-pool.ts), one encoder per thread: it keeps its compressors
// (zlib-into.ts) from block to block and allocates nothing per block.
//
// Its imports within src end in .ts: the worker runs this file as it is under tsx
// and jest (Node strips the types), and tsc rewrites them to .js for dist/
// (tsconfig's rewriteRelativeImportExtensions).
//
// Per block, gzip: the block is cut into 256 KiB segments, classified and
// grouped into runs of one kind, each run one gzip member (concatenated members
// are one valid gzip stream, RFC 1952 2.2):
//   zeros     unwritten disk space (often half a disk): a member made once, ahead of time
//   store     incompressible (order-0 entropy of a sample above 7.5 bits/byte: gzip would
//             save < 6% at a third of its usual speed): stored deflate blocks written
//             here (a copy and a CRC, ~10x faster than zlib at level 0)
//   huffman   LZ77 finds nothing to gain (deflate at level 1 on the sample comes
//             out larger than Huffman coding alone would): our own Huffman-only
//             deflate (huffman-deflate.ts), ~1.5x zlib's Z_HUFFMAN_ONLY, itself 2-3x
//             faster than the match search there, for the smaller size (data without
//             repeats: e.g. text-like noise, base64, some media and numeric data)
//   compress  zlib deflate at the requested level, memLevel 9 (a larger hash table:
//             10-20% faster than the default 8 at the same ratio)
// A compressed run that came out larger than stored is stored instead.
// zstd notices incompressible input on its own: the block is one frame.
import zlib from 'node:zlib';
import { createHuffmanDeflate } from './huffman-deflate.ts';
import { createIntoCompressor, type IntoCompressor, type IntoFormat } from './zlib-into.ts';

export type RunKind = 'zeros' | 'store' | 'huffman' | 'compress';

export interface EncodeOptions {
  algorithm: 'gzip' | 'zstd';
  level: number;
}

export interface Run {
  start: number;
  end: number;
  kind: RunKind;
}

export interface BlockEncoder {
  /** Encodes input into output; returns the number of bytes written. Throws if output is too small. */
  encodeBlock(input: Buffer, output: Buffer, options: EncodeOptions): number;
  /** Largest output encodeBlock can write for `inputBytes` of input. */
  outputBound(inputBytes: number): number;
  runsOf(block: Buffer): Run[];
  entropyBitsPerByte(sample: Buffer): number;
}

const SEGMENT_BYTES = 256 * 1024;
const SAMPLE_BYTES = 8 * 1024;
const SAMPLE_PIECES = 4;
const STORE_ABOVE_BITS_PER_BYTE = 7.5;
/** LZ77 is dropped where, on the sample, it comes out this much larger than Huffman alone. */
const LZ77_MARGIN = 0.01;
const STORED_BLOCK_MAX = 65535;
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
const ZERO_SEGMENT = Buffer.alloc(SEGMENT_BYTES);
const ZERO_SEGMENT_GZIP = zlib.gzipSync(ZERO_SEGMENT, { level: 9 });

function storedMemberSize(n: number): number {
  return GZIP_HEADER.length + 5 * Math.max(1, Math.ceil(n / STORED_BLOCK_MAX)) + n + 8;
}

/** gzip: every run at worst stored; zstd: ZSTD_compressBound. */
export function outputBound(n: number): number {
  const runs = Math.ceil(n / SEGMENT_BYTES) + 1;
  return Math.max(storedMemberSize(n) + runs * 32, n + (n >> 8) + 1024);
}

function room(output: Buffer, at: number, n: number): void {
  if (at + n > output.length) throw new Error('block encoder: output buffer too small');
}

function put(output: Buffer, at: number, bytes: Buffer): number {
  room(output, at, bytes.length);
  bytes.copy(output, at);
  return at + bytes.length;
}

function trailer(output: Buffer, at: number, crc: number, n: number): number {
  room(output, at, 8);
  output.writeUInt32LE(crc >>> 0, at);
  output.writeUInt32LE(n >>> 0, at + 4);
  return at + 8;
}

/** A gzip member of deflate "stored" blocks (RFC 1951 3.2.4): no compressor at all. */
function storedMember(input: Buffer, output: Buffer, at: number): number {
  room(output, at, storedMemberSize(input.length));
  at = put(output, at, GZIP_HEADER);
  let offset = 0;
  do {
    const n = Math.min(STORED_BLOCK_MAX, input.length - offset);
    output[at] = offset + n === input.length ? 1 : 0;
    output.writeUInt16LE(n, at + 1);
    output.writeUInt16LE(~n & 0xffff, at + 3);
    at += 5;
    at += input.copy(output, at, offset, offset + n);
    offset += n;
  } while (offset < input.length);
  return trailer(output, at, zlib.crc32(input), input.length);
}

/** A block encoder with its own compressors and scratch buffers: one per thread. */
export function createBlockEncoder(): BlockEncoder {
  const counts = new Uint32Array(256);
  const sampleBuffer = Buffer.alloc(SAMPLE_BYTES);
  /** Where the sample's trial deflate goes: room for any 8 KiB sample. */
  const sampleOutput = Buffer.alloc(2 * SAMPLE_BYTES);
  const huffman = createHuffmanDeflate();
  const compressors = new Map<string, IntoCompressor>();

  const compressor = (format: IntoFormat, level: number): IntoCompressor => {
    const key = `${format}:${level}`;
    let found = compressors.get(key);
    if (!found) {
      found = createIntoCompressor(format, { level, memLevel: 9 });
      compressors.set(key, found);
    }
    return found;
  };

  function entropyBitsPerByte(sample: Buffer): number {
    if (sample.length === 0) return 0;
    counts.fill(0);
    for (let i = 0; i < sample.length; i++) counts[sample[i]!]!++;
    let bits = 0;
    for (let i = 0; i < 256; i++) {
      const count = counts[i]!;
      if (count === 0) continue;
      const p = count / sample.length;
      bits -= p * Math.log2(p);
    }
    return bits;
  }

  // The sample is taken from the middle of each quarter of the segment, so that it
  // stands for the whole segment: taken from its start, a region boundary (e.g.
  // zeros, then a file's data) would decide the kind of all of it from the wrong side.
  function sampleOf(segment: Buffer): Buffer {
    if (segment.length <= SAMPLE_BYTES) return segment;
    const piece = SAMPLE_BYTES / SAMPLE_PIECES;
    const stride = segment.length / SAMPLE_PIECES;
    for (let k = 0; k < SAMPLE_PIECES; k++) {
      const from = Math.floor(stride * k + (stride - piece) / 2);
      segment.copy(sampleBuffer, k * piece, from, from + piece);
    }
    return sampleBuffer;
  }

  function kindOf(segment: Buffer): RunKind {
    if (segment.length === SEGMENT_BYTES && segment.equals(ZERO_SEGMENT)) return 'zeros';
    const sample = sampleOf(segment);
    const bits = entropyBitsPerByte(sample);
    if (bits > STORE_ABOVE_BITS_PER_BYTE) return 'store';
    // Both ways on the sample (Huffman's size follows from the histogram just
    // counted). The sample sees less history than the whole segment, so LZ77 gets
    // the benefit of the doubt: it is dropped only where it does worse than
    // Huffman alone by LZ77_MARGIN.
    const lz77Bytes = compressor('deflateRaw', 1).compress(sample, sampleOutput, 0, sampleOutput.length);
    if (lz77Bytes < 0) return 'store';
    const huffmanBytes = huffman.blockBits(counts) / 8;
    return lz77Bytes > huffmanBytes * (1 + LZ77_MARGIN) ? 'huffman' : 'compress';
  }

  function runsOf(block: Buffer): Run[] {
    const runs: Run[] = [];
    for (let start = 0; start < block.length; start += SEGMENT_BYTES) {
      const end = Math.min(start + SEGMENT_BYTES, block.length);
      const kind = kindOf(block.subarray(start, end));
      const last = runs[runs.length - 1];
      if (last && last.kind === kind && kind !== 'zeros') last.end = end;
      else runs.push({ start, end, kind });
    }
    return runs;
  }

  function encodeBlock(input: Buffer, output: Buffer, options: EncodeOptions): number {
    if (options.algorithm === 'zstd') {
      const end = compressor('zstd', options.level).compress(input, output, 0, output.length);
      if (end < 0) throw new Error('block encoder: output buffer too small');
      return end;
    }
    let at = 0;
    for (const run of runsOf(input)) {
      const bytes = input.subarray(run.start, run.end);
      if (run.kind === 'zeros') {
        at = put(output, at, ZERO_SEGMENT_GZIP);
      } else if (run.kind === 'store') {
        at = storedMember(bytes, output, at);
      } else if (run.kind === 'huffman') {
        // No larger than stored: the encoder gives up (-1) before it would pass that.
        const limit = Math.min(output.length, at + storedMemberSize(bytes.length)) - 8;
        const end = huffman.encode(bytes, output, at + GZIP_HEADER.length, limit);
        if (end < 0) {
          at = storedMember(bytes, output, at);
        } else {
          put(output, at, GZIP_HEADER);
          at = trailer(output, end, zlib.crc32(bytes), bytes.length);
        }
      } else {
        // Smaller than stored, or stored: the member may use up to the stored size less one byte.
        const end = compressor('gzip', options.level).compress(
          bytes,
          output,
          at,
          at + storedMemberSize(bytes.length),
        );
        at = end >= 0 ? end : storedMember(bytes, output, at);
      }
    }
    return at;
  }

  return { encodeBlock, outputBound, runsOf, entropyBitsPerByte };
}
