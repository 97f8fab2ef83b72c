// A disk pushed as a chunked artifact (format.ts): one read of the disk, cut into
// fixed-size chunks; an all-zero chunk is skipped, a chunk whose sha256 an earlier backup
// holds is HEADed and referenced, any other is compressed (chunk-codec.ts) and uploaded.
// Memory: `concurrency` chunks in flight (their bytes and compressed copies), whatever
// the disk's size. The manifest is put under the tag and read back by digest.
import { createHash } from 'node:crypto';
import { imageAnnotations, type ImageAnnotationInput } from '../annotations.js';
import { StreamDigest } from '../digest.js';
import { DataPathError } from '../errors.js';
import { throttledProgress, type ProgressCallback } from '../progress.js';
import type { RegistryPort } from '../registry-port.js';
import { CHUNK_ZSTD_LEVEL, compressChunk } from './chunk-codec.js';
import { buildDedupIndex, type DedupIndex } from './dedup-index.js';
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
  /** Asked chunk size (power of two, 1-256 MiB; default 4 MiB); grown for very large disks (chunkSizeFor). */
  chunkSize?: number;
  /** Earlier backups in the same repository (tags or digests) whose chunks may be reused. */
  previous?: string[];
  /** An index built already (e.g. shared by several disks); merged with `previous`'s. */
  index?: DedupIndex;
  /** Chunks read ahead, compressed and uploaded at once. Default 4. */
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

const DEFAULT_CONCURRENCY = 4;

export async function pushChunkedDisk(options: PushChunkedDiskOptions): Promise<PushedChunkedDisk> {
  const { registry, disk } = options;
  const created = options.created ?? new Date();
  const chunkSize = chunkSizeFor(disk.size, options.chunkSize);
  const built = await buildDedupIndex(registry, options.previous ?? []);
  const index: DedupIndex = new Map([...(options.index ?? []), ...built.index]);

  const counts: ChunkCounts = { total: 0, zero: 0, uploaded: 0, reused: 0 };
  const bytes: ChunkBytes = { uploaded: 0, reused: 0, referenced: 0, compressedFrom: 0 };
  const stored: (ChunkRef | undefined)[] = [];
  const diskDigest = new StreamDigest();
  const progress = throttledProgress(disk.size, options.onProgress, options.progressIntervalMs);
  const zeros = Buffer.alloc(chunkSize);

  // Chunks are placed by their position, whatever order their uploads finish in.
  const storeChunk = async (position: number, offset: number, chunk: Buffer, sha256: string) => {
    const known = index.get(sha256);
    if (known && (await registry.blobExists(known.digest))) {
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
    index.set(sha256, { digest: uploaded.digest, size: uploaded.size });
    stored[position] = { digest: uploaded.digest, size: uploaded.size, offset, length: chunk.length, sha256 };
  };

  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let offset = 0;
  for await (const chunk of fixedChunks(disk, chunkSize)) {
    options.signal?.throwIfAborted();
    if (failure !== undefined) break;
    diskDigest.update(chunk);
    const position = counts.total++;
    const chunkOffset = offset;
    offset += chunk.length;
    progress.update(offset);
    if (chunk.equals(zeros.subarray(0, chunk.length))) {
      counts.zero++;
      continue;
    }
    const sha256 = `sha256:${createHash('sha256').update(chunk).digest('hex')}`;
    const task: Promise<void> = storeChunk(position, chunkOffset, chunk, sha256)
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
    if (inFlight.size >= (options.concurrency ?? DEFAULT_CONCURRENCY)) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
  options.signal?.throwIfAborted();
  if (offset !== disk.size) {
    throw new DataPathError('ExportTruncated', `the disk ended after ${offset} of ${disk.size} bytes`, {
      retryable: true,
    });
  }
  progress.flush();

  const chunks = stored.filter((c): c is ChunkRef => c !== undefined);
  const distinct = new Map(chunks.map((c) => [c.digest, c.size]));
  for (const size of distinct.values()) bytes.referenced += size;

  const config = chunkedConfig({
    formatVersion: FORMAT_VERSION,
    diskSize: disk.size,
    diskSha256: diskDigest.digest(),
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
    diskSha256: diskDigest.digest(),
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
