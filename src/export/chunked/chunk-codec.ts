// One chunk's compression, deterministic: identical input gives identical bytes (and so
// an identical blob digest) every time, which is what lets the registry deduplicate.
// That holds for a fixed zstd level, one frame, and no zstd worker threads (nbWorkers 0:
// multithreaded zstd cuts its input by timing-independent but size-dependent jobs, and
// is not what we verified). The frame records its content size and a checksum.
// The async calls run on libuv's thread pool, so several chunks compress at once.
// zlib hands its output back in pieces of `chunkSize` (16 KiB by default), one round trip
// to the main thread each, then concatenated; pieces as large as the chunk make it one
// piece (two for incompressible bytes). Not larger: from ZSTD_compressBound on, zstd
// takes its one-shot path, whose frames can differ (the compression pool measured them
// 0.05-0.45% larger, zlib-into.ts), and the blobs must stay those earlier backups hold.
// Below that bound the piece size only says where zstd copies its blocks (a test
// compares the bytes with zlib's default pieces).
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

export function compressChunk(bytes: Buffer): Promise<Buffer> {
  return compress(bytes, { params: PARAMS, chunkSize: Math.max(bytes.length, 64) });
}

/** Decompresses one chunk; `length` bounds the output (a chunk never grows past it). */
export function decompressChunk(bytes: Buffer, length: number): Promise<Buffer> {
  return decompress(bytes, { maxOutputLength: Math.max(length, 1) });
}
