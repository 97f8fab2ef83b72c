// Chunked disks: a disk stored as deduplicated, deterministically compressed chunks
// (format.ts), pushed (push-chunked-disk.ts), read back and verified (read-chunked-disk.ts).
export { pushChunkedDisk, fixedChunks } from './push-chunked-disk.js';
export type {
  ChunkBytes,
  ChunkCounts,
  DiskSource,
  PushChunkedDiskOptions,
  PushedChunkedDisk,
} from './push-chunked-disk.js';
export { buildDedupIndex, type DedupIndex, type StoredChunk } from './dedup-index.js';
export {
  CHUNKED,
  CHUNK_ANNOTATION,
  DEFAULT_CHUNK_SIZE,
  MAX_CHUNKS,
  chunkSizeFor,
  isChunkedManifest,
  NotChunkedError,
  type ChunkRef,
  type ChunkedConfig,
} from './format.js';
export { compressChunk, decompressChunk, CHUNK_ZSTD_LEVEL } from './chunk-codec.js';
export {
  chunkedDiskBytes,
  missingBlobs,
  openChunkedDisk,
  verifyChunkedDisk,
  type ChunkedDisk,
  type VerifiedChunkedDisk,
} from './read-chunked-disk.js';
export { pushChunkedExport, type PushChunkedExportOptions } from './push-chunked-export.js';
export { materializeChunkedDisk, type MaterializeOptions, type MaterializedImage } from './materialize.js';
