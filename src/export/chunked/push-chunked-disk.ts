// A disk pushed as a chunked artifact (format.ts): one read of the disk, cut into
// fixed-size chunks; an all-zero chunk is skipped, a chunk whose sha256 an earlier backup
// holds is HEADed and referenced, any other is compressed (chunk-codec.ts) and uploaded.
// Memory: `concurrency` chunks in flight (their bytes and compressed copies) in a few
// reused buffers (chunk-buffers.ts), whatever the disk's size. The whole disk's sha256 is
// taken beside the chunks' own hashes, on a thread of its own where there is a core for
// it (disk-hasher.ts).
// The manifest is put under the tag and read back by digest.
import { createHash } from 'node:crypto';
import { imageAnnotations, type ImageAnnotationInput } from '../annotations.js';
import { DataPathError } from '../errors.js';
import { throttledProgress, type ProgressCallback } from '../progress.js';
import type { RegistryPort } from '../registry-port.js';
import { CHUNK_ZSTD_LEVEL, compressChunk } from './chunk-codec.js';
import { ChunkBufferPool, pooledChunks } from './chunk-buffers.js';
import { buildDedupIndex, type DedupIndex } from './dedup-index.js';
import { wholeDiskHasher } from './disk-hasher.js';
import {
  CHUNKED,
  chunkedConfig,
  chunkedManifest,
  chunkSizeFor,
  FORMAT_VERSION,
  type ChunkRef,
} from './format.js';

/** The disk's bytes in order, exactly `size` of them (an export source or a file). */
export interface DiskSource {
  size: number;
  body: AsyncIterable<Buffer>;
}

export interface PushChunkedDiskOptions {
  disk: DiskSource;
  registry: RegistryPort;
  tag: string;
  /** The title annotation. */
  imageName: string;
  sourceVm?: ImageAnnotationInput['source'];
  volume?: string;
  metadata?: Record<string, string>;
  /** Creation time (config + annotation). Default: now. */
  created?: Date;
  /** The VM's instancetype hints, recorded in the config. */
  configLabels?: Record<string, string>;
  architecture?: string;
  /** Asked chunk size (power of two, 1-256 MiB; default 1 MiB); grown for large disks (chunkSizeFor). */
  chunkSize?: number;
  /** Earlier backups in the same repository (tags or digests) whose chunks may be reused. */
  previous?: string[];
  /** An index built already (e.g. shared by several disks); merged with `previous`'s. */
  index?: DedupIndex;
  /** The whole disk's sha256 on a thread of its own. Default: from 3 cores (disk-hasher.ts). */
  hashThread?: boolean;
  /** Chunks read ahead, compressed and uploaded at once. Default: 16 MiB of chunks, 4 to 8. */
  concurrency?: number;
  onProgress?: ProgressCallback;
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

export interface ChunkCounts {
  /** Chunks of the disk, zero ones included. */
  total: number;
  zero: number;
  /** Compressed and uploaded. */
  uploaded: number;
  /** Already in the repository (from the index, or found by HEAD after compression). */
  reused: number;
}

export interface ChunkBytes {
  /** Compressed bytes sent to the registry. */
  uploaded: number;
  /** Compressed bytes referenced that the registry already had. */
  reused: number;
  /** Compressed bytes of the distinct blobs the manifest references. */
  referenced: number;
  /** Uncompressed bytes of the chunks that were compressed (new or found by HEAD). */
  compressedFrom: number;
}

export interface PushedChunkedDisk {
  /** `repository@sha256:...` of the manifest. */
  reference: string;
  digest: string;
  tag: string;
  /** Bytes of the raw disk. */
  size: number;
  /** sha256:<hex> of the raw disk. */
  diskSha256: string;
  chunkSize: number;
  chunks: ChunkCounts;
  bytes: ChunkBytes;
  /** Backups whose chunks were looked up. */
  indexedFrom: string[];
}

/**
 * About 16 MiB of chunks in flight: 4 of 4 MiB, 8 of 1 MiB (small chunks wait on a
 * registry round trip more often per byte, so more of them overlap), never more than 8.
 */
function defaultConcurrency(chunkSize: number): number {
  return Math.max(4, Math.min(8, Math.floor((16 * 1024 * 1024) / chunkSize)));
}
/** Chunk buffers beyond those in flight: one being filled, one the hash thread may lag by. */
const SPARE_BUFFERS = 2;

export async function pushChunkedDisk(options: PushChunkedDiskOptions): Promise<PushedChunkedDisk> {
  const { registry, disk } = options;
  const created = options.created ?? new Date();
  const chunkSize = chunkSizeFor(disk.size, options.chunkSize);
  const concurrency = options.concurrency ?? defaultConcurrency(chunkSize);
  const built = await buildDedupIndex(registry, options.previous ?? []);
  const index: DedupIndex = new Map([...(options.index ?? []), ...built.index]);

  const counts: ChunkCounts = { total: 0, zero: 0, uploaded: 0, reused: 0 };
  const bytes: ChunkBytes = { uploaded: 0, reused: 0, referenced: 0, compressedFrom: 0 };
  const stored: (ChunkRef | undefined)[] = [];
  const progress = throttledProgress(disk.size, options.onProgress, options.progressIntervalMs);
  const zeros = Buffer.alloc(Math.min(chunkSize, Math.max(disk.size, 1)));
  // Blobs this push has seen in the registry (HEADed or uploaded): a chunk that repeats
  // within the disk is not asked about twice.
  const present = new Set<string>();

  // Chunks are placed by their position, whatever order their uploads finish in.
  const storeChunk = async (position: number, offset: number, chunk: Buffer, sha256: string) => {
    const known = index.get(sha256);
    if (known && (present.has(known.digest) || (await registry.blobExists(known.digest)))) {
      present.add(known.digest);
      counts.reused++;
      bytes.reused += known.size;
      stored[position] = { ...known, offset, length: chunk.length, sha256 };
      return;
    }
    const compressed = await compressChunk(chunk);
    options.signal?.throwIfAborted();
    const uploaded = await registry.uploadBlobBytes(compressed);
    bytes.compressedFrom += chunk.length;
    if (uploaded.skipped) {
      counts.reused++;
      bytes.reused += uploaded.size;
    } else {
      counts.uploaded++;
      bytes.uploaded += uploaded.size;
    }
    present.add(uploaded.digest);
    index.set(sha256, { digest: uploaded.digest, size: uploaded.size });
    stored[position] = { digest: uploaded.digest, size: uploaded.size, offset, length: chunk.length, sha256 };
  };

  const pool = new ChunkBufferPool(Math.min(chunkSize, Math.max(disk.size, 1)), concurrency + SPARE_BUFFERS);
  const diskHash = wholeDiskHasher(options.hashThread);
  let diskSha256: string;
  let offset = 0;
  try {
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    for await (const pooled of pooledChunks(disk, chunkSize, pool)) {
      const chunk = pooled.bytes;
      if (failure !== undefined || options.signal?.aborted) {
        pooled.release();
        break;
      }
      // The whole disk's hash (maybe on its own thread) holds the buffer until it is done.
      pooled.hold();
      void diskHash.update(chunk).then(pooled.release);
      const position = counts.total++;
      const chunkOffset = offset;
      offset += chunk.length;
      progress.update(offset);
      if (chunk.equals(zeros.subarray(0, chunk.length))) {
        counts.zero++;
        pooled.release();
        continue;
      }
      const sha256 = `sha256:${createHash('sha256').update(chunk).digest('hex')}`;
      const task: Promise<void> = storeChunk(position, chunkOffset, chunk, sha256)
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => {
          pooled.release();
          inFlight.delete(task);
        });
      inFlight.add(task);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    options.signal?.throwIfAborted();
    if (offset !== disk.size) {
      throw new DataPathError('ExportTruncated', `the disk ended after ${offset} of ${disk.size} bytes`, {
        retryable: true,
      });
    }
    diskSha256 = await diskHash.digest();
  } finally {
    await diskHash.close();
  }
  progress.flush();

  const chunks = stored.filter((c): c is ChunkRef => c !== undefined);
  const distinct = new Map(chunks.map((c) => [c.digest, c.size]));
  for (const size of distinct.values()) bytes.referenced += size;

  const config = chunkedConfig({
    formatVersion: FORMAT_VERSION,
    diskSize: disk.size,
    diskSha256,
    chunkSize,
    compression: 'zstd',
    compressionLevel: CHUNK_ZSTD_LEVEL,
    diskFormat: 'raw',
    created: created.toISOString(),
    ...(options.architecture ? { architecture: options.architecture } : {}),
    ...(options.configLabels && Object.keys(options.configLabels).length > 0
      ? { labels: options.configLabels }
      : {}),
  });
  await registry.uploadBlobBytes(config.bytes);
  const manifest = chunkedManifest(
    { mediaType: CHUNKED.config, digest: config.digest, size: config.bytes.length },
    chunks,
    imageAnnotations({
      created,
      imageName: options.imageName,
      source: options.sourceVm,
      volume: options.volume,
      metadata: options.metadata,
    }),
  );
  options.signal?.throwIfAborted();
  const putDigest = await registry.putManifest(options.tag, manifest.bytes, CHUNKED.manifest);
  const readBack = await registry.getManifest(manifest.digest);
  if (putDigest !== manifest.digest || !readBack.body.equals(manifest.bytes)) {
    throw new DataPathError(
      'DigestMismatch',
      `the registry returns a different manifest for ${manifest.digest} than the one pushed`,
      { retryable: true },
    );
  }
  return {
    reference: `${registry.repository}@${manifest.digest}`,
    digest: manifest.digest,
    tag: options.tag,
    size: disk.size,
    diskSha256,
    chunkSize,
    chunks: counts,
    bytes,
    indexedFrom: built.read,
  };
}

/**
 * The disk cut into `chunkSize` pieces (the last may be shorter), each a Buffer of its
 * own: the source's buffers are reused once the next is asked for, ours are held by
 * chunks in flight.
 */
export async function* fixedChunks(disk: DiskSource, chunkSize: number): AsyncGenerator<Buffer> {
  let chunk = Buffer.allocUnsafe(Math.min(chunkSize, disk.size));
  let filled = 0;
  let remaining = disk.size;
  for await (const piece of disk.body) {
    let at = 0;
    while (at < piece.length) {
      if (remaining === 0) return;
      const n = Math.min(piece.length - at, chunk.length - filled, remaining);
      piece.copy(chunk, filled, at, at + n);
      filled += n;
      at += n;
      remaining -= n;
      if (filled === chunk.length) {
        yield chunk;
        chunk = Buffer.allocUnsafe(Math.min(chunkSize, remaining));
        filled = 0;
      }
    }
  }
  if (filled > 0) yield chunk.subarray(0, filled);
}
