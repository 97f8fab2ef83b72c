// The data path, end to end: export server -> disk file (raw, or qcow2 from a
// second read: disk-file.ts) -> tar layer -> parallel compression -> chunked
// blob upload, with bounded buffers and no scratch disk, then the image config
// and manifest, and a read-back of the manifest by digest.
import { imageAnnotations, type ImageAnnotationInput } from './annotations.js';
import { openDiskFile, type DiskFormat } from './disk-file.js';
import { diskLayerTar, TAR_HEADER_BYTES } from './disk-layer.js';
import { StreamDigest } from './digest.js';
import { DataPathError } from './errors.js';
import { imageConfig, imageManifest, MEDIA_TYPE, type Descriptor } from './image.js';
import { compressInBlocks, DEFAULT_BLOCK_SIZE, type Compression } from './parallel-compress.js';
import { throttledProgress, type ProgressCallback } from './progress.js';
import type { RegistryPort } from './registry-port.js';
import { openExportSource, type ExportSource, type ExportSourceOptions } from './source.js';

export interface PushDiskImageOptions {
  /** The export to read, or a raw disk opened already (a chunked backup reassembled: raw only). */
  source: ExportSourceOptions | { opened: ExportSource };
  registry: RegistryPort;
  tag: string;
  /** Nova's createImage "name": the title annotation. */
  imageName: string;
  /** The VM the disk belongs to, recorded in annotations. */
  sourceVm?: ImageAnnotationInput['source'];
  volume?: string;
  /** User metadata (Nova createImage "metadata"), one annotation per entry. */
  metadata?: Record<string, string>;
  /** Image creation time (config + annotation). Default: now. */
  created?: Date;
  /** Image config labels (and their Env twins): the VM's instancetype hints. */
  configLabels?: Record<string, string>;
  /** Default amd64. */
  architecture?: string;
  /** Default gzip: every runtime and CDI read it; zstd needs CDI 1.57+. */
  compression?: Compression;
  /** Default raw; qcow2 reads the export twice (a map of the non-zero clusters, then those). */
  diskFormat?: DiskFormat;
  compressionLevel?: number;
  /** Uncompressed bytes per compressed member; see parallel-compress.ts. */
  blockSize?: number;
  /** Blocks compressed at once. */
  concurrency?: number;
  /** Bytes per upload PATCH. Default 4 MiB (see UPLOAD_CHUNK_BYTES). */
  uploadChunkSize?: number;
  /** Also compute the raw disk's sha256 (one more hash pass) and record it on the layer. Default false. */
  diskSha256?: boolean;
  onProgress?: ProgressCallback;
  progressIntervalMs?: number;
  /** Cancels the push: the stream stops, the upload session is deleted, no manifest is put. */
  signal?: AbortSignal;
  /** Told the layer's upload session Location once it is open (see RegistryClient.cancelUploadSession). */
  onUploadStarted?: (location: string) => void | Promise<void>;
  /** Told when that session is closed for sure (completed, or its cancel confirmed). */
  onUploadClosed?: () => void | Promise<void>;
  /**
   * The layer as a failed earlier attempt completed it: when the registry still has that
   * blob (HEAD), it is not streamed and sent again; only config and manifest go up.
   */
  uploadedLayer?: UploadedLayer;
  /** Told the layer once its blob is complete in the registry, before config and manifest. */
  onLayerUploaded?: (layer: UploadedLayer) => void;
}

/** A completed layer blob and what its manifest needs. */
export interface UploadedLayer {
  digest: string;
  size: number;
  diffId: string;
  /** Raw disk bytes. */
  diskSize: number;
  /** What disk/disk.img is: raw or qcow2. */
  diskFormat: DiskFormat;
  /** Bytes of disk/disk.img (the qcow2 file's size; the disk's for raw). */
  fileSize: number;
  diskSha256?: string;
}

export interface PushedDiskImage {
  /** `repository@sha256:...` of the manifest. */
  reference: string;
  /** Digest of the manifest. */
  digest: string;
  tag: string;
  /** Bytes of the raw disk. */
  size: number;
  /** What disk/disk.img is: raw or qcow2. */
  diskFormat: DiskFormat;
  /** Bytes of disk/disk.img (the qcow2 file's size; the disk's for raw). */
  fileSize: number;
  layerDigest: string;
  /** Bytes of the compressed layer blob. */
  layerSize: number;
  /** sha256 of the uncompressed layer tar (config rootfs.diff_ids[0]). */
  diffId: string;
  /** `sha256:<hex>` of the raw disk, when asked for. */
  diskSha256?: string;
  /** A chunked (incremental) push: what was new and what was reused (src/export/chunked). */
  chunked?: ChunkedPushStats;
}

export interface ChunkedPushStats {
  chunkSize: number;
  chunks: number;
  zeroChunks: number;
  newChunks: number;
  reusedChunks: number;
  newBytes: number;
  reusedBytes: number;
  diskSha256: string;
}

/**
 * Bytes per PATCH of the layer. The client holds two chunks (one on the wire,
 * one filling), so this counts twice in RSS; compressInBlocks keeps compressing
 * into its own buffers while a PATCH is on the wire. Measured on 1 GiB: 8 MiB
 * chunks cost 6 MiB more peak RSS than 4 MiB and gained no time; 4 MiB is
 * ~100 requests per GiB of compressed layer.
 */
const UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024;

/** Annotation on the layer descriptor holding the raw disk's sha256 (when computed). */
export const DISK_SHA256_ANNOTATION = 'serverimage.io/disk.sha256';

export async function pushDiskImage(options: PushDiskImageOptions): Promise<PushedDiskImage> {
  const created = options.created ?? new Date();
  const compression = options.compression ?? 'gzip';
  // A layer a failed attempt completed is not sent twice (a retry after a failed manifest
  // would re-send gigabytes): HEAD tells whether the registry still has it.
  const known = options.uploadedLayer;
  const layerBlob =
    known && (await options.registry.blobExists(known.digest)) ? known : await uploadLayer(options, created);
  if (layerBlob !== known) options.onLayerUploaded?.(layerBlob);
  options.signal?.throwIfAborted();
  const blob = { digest: layerBlob.digest, size: layerBlob.size };

  const layer: Descriptor = {
    mediaType: MEDIA_TYPE.layer[compression],
    digest: blob.digest,
    size: blob.size,
  };
  if (layerBlob.diskSha256) layer.annotations = { [DISK_SHA256_ANNOTATION]: layerBlob.diskSha256 };
  const config = imageConfig({
    architecture: options.architecture ?? 'amd64',
    created,
    diffIds: [layerBlob.diffId],
    labels: options.configLabels,
  });
  const configUploaded = await options.registry.uploadBlobBytes(config.bytes);
  expectSame('image config', configUploaded.digest, config.digest, configUploaded.size, config.bytes.length);

  const annotations = imageAnnotations({
    created,
    imageName: options.imageName,
    source: options.sourceVm,
    volume: options.volume,
    metadata: options.metadata,
  });
  const manifest = imageManifest(
    { mediaType: MEDIA_TYPE.config, digest: config.digest, size: config.bytes.length },
    [layer],
    annotations,
  );
  options.signal?.throwIfAborted();
  const putDigest = await options.registry.putManifest(options.tag, manifest.bytes, MEDIA_TYPE.manifest);
  expectSame('manifest', putDigest, manifest.digest);
  const stored = await options.registry.getManifest(manifest.digest);
  if (!stored.body.equals(manifest.bytes) || stored.digest !== manifest.digest) {
    throw new DataPathError(
      'DigestMismatch',
      `the registry returns a different manifest for ${manifest.digest} than the one pushed (got ${stored.digest})`,
      { retryable: true },
    );
  }

  return {
    reference: `${options.registry.repository}@${manifest.digest}`,
    digest: manifest.digest,
    tag: options.tag,
    size: layerBlob.diskSize,
    diskFormat: layerBlob.diskFormat,
    fileSize: layerBlob.fileSize,
    layerDigest: blob.digest,
    layerSize: blob.size,
    diffId: layerBlob.diffId,
    ...(layerBlob.diskSha256 ? { diskSha256: layerBlob.diskSha256 } : {}),
  };
}

/** Streams the export through tar and compression into a layer blob. */
async function uploadLayer(options: PushDiskImageOptions, created: Date): Promise<UploadedLayer> {
  const compression = options.compression ?? 'gzip';
  const given = options.source;
  const source = 'opened' in given ? given.opened : await openExportSource(given);
  const progress = throttledProgress(source.size, options.onProgress, options.progressIntervalMs);

  const diskDigest = options.diskSha256 ? new StreamDigest() : undefined;
  const diffId = new StreamDigest();

  // Progress is in disk bytes: the share of the export's reads done (both passes for qcow2).
  const file = await openDiskFile(
    options.diskFormat ?? 'raw',
    source,
    'opened' in given ? undefined : given,
    {
      onRead: (done, total) => progress.update(Math.floor((source.size * done) / total)),
      diskDigest,
      signal: options.signal,
    },
  );
  // The layer's mtimes are the image's creation time: deterministic for a given request.
  const layerTar = diskLayerTar(file.body, { size: file.size, mtime: created });
  // compressInBlocks reads ahead into its own fixed buffers while the uploader
  // waits on the registry, and hands over each output until the next is asked
  // for: the uploader copies it into its chunk, so no other queue is needed.
  const compressed = compressInBlocks(layerTar, {
    algorithm: compression,
    level: options.compressionLevel,
    blockSize: options.blockSize,
    // The tar headers (and a qcow2 file's tables) alone in the first block(s): then
    // blocks start at the disk's own offsets.
    firstBlockSize: firstBlockSize(
      TAR_HEADER_BYTES + file.dataOffset,
      options.blockSize ?? DEFAULT_BLOCK_SIZE,
    ),
    concurrency: options.concurrency,
    // The diff_id in block-sized steps: one hash call per block, not per TLS record.
    onBlock: (block) => diffId.update(block),
  });
  const uploaded = await options.registry
    .uploadBlob(compressed, {
      chunkSize: options.uploadChunkSize ?? UPLOAD_CHUNK_BYTES,
      onSessionStarted: options.onUploadStarted,
      onSessionClosed: options.onUploadClosed,
    })
    .catch((err: unknown) => {
      // The registry client wraps a failing source; the export's own reason
      // (ExportTruncated, ExportUnavailable ...) is the one to show.
      throw err instanceof Error && err.cause instanceof DataPathError ? err.cause : err;
    });
  progress.flush();
  // The client computes the blob's sha256 while streaming (the registry checks
  // it when the upload closes): hashing it here again would cost CPU for nothing.
  return {
    digest: uploaded.digest,
    size: uploaded.size,
    diffId: diffId.digest(),
    diskSize: source.size,
    diskFormat: file.format,
    fileSize: file.size,
    ...(diskDigest ? { diskSha256: diskDigest.digest() } : {}),
  };
}

/**
 * The first block ends where the disk's bytes begin, modulo the block size, so that
 * every later block starts at a block-aligned offset of the disk: a 1 MiB region of the
 * disk (zeros, a file's data) is one block, and the encoder's 256 KiB segments do not
 * straddle two regions. Measured on the synthetic disk, qcow2 layers without it were
 * 2% larger than raw ones (segments half random, half text were stored).
 */
function firstBlockSize(dataOffset: number, blockSize: number): number {
  return dataOffset % blockSize || blockSize;
}

function expectSame(
  what: string,
  registryDigest: string,
  ourDigest: string,
  registrySize?: number,
  ourSize?: number,
) {
  if (registryDigest !== ourDigest || registrySize !== ourSize) {
    throw new DataPathError(
      'DigestMismatch',
      `the registry stored the ${what} as ${registryDigest} (${registrySize ?? '?'} bytes), ` +
        `but we sent ${ourDigest} (${ourSize ?? '?'} bytes)`,
      { retryable: true },
    );
  }
}
