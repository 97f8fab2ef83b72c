// Compression is the slow stage of the data path (gzip manages tens of MiB/s
// per core on incompressible data). Cutting the stream into independent blocks
// and compressing each as its own gzip member (or zstd frame) lets libuv's
// threadpool use every core: node:zlib's async calls run there. Concatenated
// gzip members are one valid gzip stream (RFC 1952 2.2) and concatenated zstd
// frames one valid zstd stream; every reader (Go, containerd, zlib, CDI)
// decodes them as a whole. Output stays in input order and the number of
// blocks in flight is bounded, so memory is too.
import { promisify } from 'node:util';
import zlib from 'node:zlib';

export type Compression = 'gzip' | 'zstd';

export interface ParallelCompressOptions {
  algorithm: Compression;
  /** gzip 1-9 (default 1, go-containerregistry's choice), zstd 1-19 (default 3). */
  level?: number;
  /** Uncompressed bytes per member. Default 4 MiB. */
  blockSize?: number;
  /** Blocks compressed at once. Default 3: two cores busy and one block queued. */
  concurrency?: number;
}

const gzip = promisify(zlib.gzip);
const zstdCompress = promisify(zlib.zstdCompress);

/** Samples of a block probed to decide whether it is worth compressing: 4 x 16 KiB, spread over the block. */
const PROBE_SAMPLES = 4;
const PROBE_SAMPLE_BYTES = 16 * 1024;
/** zlib's output chunk: larger than its 16 KiB default means fewer threadpool round trips per block. */
const ZLIB_CHUNK = 256 * 1024;
/** A probe that shrinks less than this is treated as incompressible (random, encrypted, compressed data). */
const INCOMPRESSIBLE_RATIO = 0.97;

export async function* compressInBlocks(
  source: AsyncIterable<Buffer>,
  options: ParallelCompressOptions,
): AsyncGenerator<Buffer> {
  const blockSize = options.blockSize ?? 4 * 1024 * 1024;
  const concurrency = Math.max(1, options.concurrency ?? 3);
  const compress = blockCompressor(options);
  const inFlight: Promise<Buffer>[] = [];

  for await (const block of blocksOf(source, blockSize)) {
    const job = compress(block);
    // Jobs finish in any order; mark rejections handled now and surface them
    // in order when their turn comes.
    job.catch(() => undefined);
    inFlight.push(job);
    if (inFlight.length >= concurrency) yield await inFlight.shift()!;
  }
  while (inFlight.length > 0) yield await inFlight.shift()!;
}

/** Regroups a stream of arbitrary chunks into blocks of exactly `blockSize` bytes (the last one shorter). */
export async function* blocksOf(source: AsyncIterable<Buffer>, blockSize: number): AsyncGenerator<Buffer> {
  let block = Buffer.allocUnsafe(blockSize);
  let filled = 0;
  for await (const chunk of source) {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(blockSize - filled, chunk.length - offset);
      chunk.copy(block, filled, offset, offset + n);
      filled += n;
      offset += n;
      if (filled === blockSize) {
        yield block;
        // A fresh buffer: the one just handed out is still being compressed.
        block = Buffer.allocUnsafe(blockSize);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield block.subarray(0, filled);
}

function blockCompressor(options: ParallelCompressOptions): (block: Buffer) => Promise<Buffer> {
  if (options.algorithm === 'zstd') {
    // zstd notices incompressible input on its own and stores it cheaply.
    const params = { [zlib.constants.ZSTD_c_compressionLevel]: options.level ?? 3 };
    return (block) => zstdCompress(block, { params });
  }
  const level = options.level ?? 1;
  return async (block) => {
    // gzip spends as long on random bytes as on text and saves nothing; a
    // stored member (level 0) of such a block costs a copy and a CRC instead.
    const probe = probeOf(block);
    const probed = await gzip(probe, { level, chunkSize: ZLIB_CHUNK });
    const worthIt = probed.length < probe.length * INCOMPRESSIBLE_RATIO;
    return gzip(block, { level: worthIt ? level : 0, chunkSize: ZLIB_CHUNK });
  };
}

/** A few samples from across the block: a block may begin random and end in text or zeros. */
function probeOf(block: Buffer): Buffer {
  if (block.length <= PROBE_SAMPLES * PROBE_SAMPLE_BYTES) return block;
  const stride = Math.floor((block.length - PROBE_SAMPLE_BYTES) / (PROBE_SAMPLES - 1));
  const samples: Buffer[] = [];
  for (let i = 0; i < PROBE_SAMPLES; i++) {
    samples.push(block.subarray(i * stride, i * stride + PROBE_SAMPLE_BYTES));
  }
  return Buffer.concat(samples);
}
