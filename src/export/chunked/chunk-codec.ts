// One chunk's compression, deterministic: identical input gives identical bytes (and so
// an identical blob digest) every time, which is what lets the registry deduplicate.
// That holds for a fixed zstd level, one frame, and no zstd worker threads (nbWorkers 0:
// multithreaded zstd cuts its input by timing-independent but size-dependent jobs, and
// is not what we verified). The frame records its content size and a checksum.
// The async calls run on libuv's thread pool, so several chunks compress at once.
// zlib hands its output back in pieces of `chunkSize` (16 KiB by default), one round trip
// to the main thread each, then concatenated; an output buffer as large as the worst
// case makes it one piece. The piece size changes nothing in the frame (zstd is given
// the whole input and the end at once either way; a test compares both).
import { promisify } from 'node:util';
import zlib from 'node:zlib';

export const CHUNK_ZSTD_LEVEL = 3;

const compress = promisify(zlib.zstdCompress);
const decompress = promisify(zlib.zstdDecompress);

const PARAMS = {
  [zlib.constants.ZSTD_c_compressionLevel]: CHUNK_ZSTD_LEVEL,
  [zlib.constants.ZSTD_c_contentSizeFlag]: 1,
  [zlib.constants.ZSTD_c_checksumFlag]: 1,
  [zlib.constants.ZSTD_c_nbWorkers]: 0,
};

/** zstd's ZSTD_COMPRESSBOUND, plus room for the frame header and checksum. */
export function compressBound(length: number): number {
  const small = length < 128 * 1024 ? (128 * 1024 - length) >> 11 : 0;
  return length + (length >> 8) + small + 64;
}

export function compressChunk(bytes: Buffer): Promise<Buffer> {
  return compress(bytes, { params: PARAMS, chunkSize: Math.max(compressBound(bytes.length), 64) });
}

/** Decompresses one chunk; `length` bounds the output (a chunk never grows past it). */
export function decompressChunk(bytes: Buffer, length: number): Promise<Buffer> {
  return decompress(bytes, { maxOutputLength: Math.max(length, 1) });
}
