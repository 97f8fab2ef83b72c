// Reading a chunked disk back: its manifest and config, every referenced blob HEADed,
// and the disk reassembled in order (zeros for the gaps, each chunk decompressed and
// checked against its recorded length and sha256) with the whole disk's sha256 compared
// to the config's. One chunk fetched ahead: memory is two chunks, whatever the disk.
import { createHash } from 'node:crypto';
import { StreamDigest } from '../digest.js';
import { DataPathError } from '../errors.js';
import type { RegistryPort } from '../registry-port.js';
import { decompressChunk } from './chunk-codec.js';
import {
  chunkedConfigSchema,
  FORMAT_VERSION,
  NotChunkedError,
  parseChunkedManifest,
  type ChunkedConfig,
  type ChunkRef,
} from './format.js';

export interface ChunkedDisk {
  /** The manifest's digest. */
  digest: string;
  config: ChunkedConfig;
  chunks: ChunkRef[];
  annotations: Record<string, string>;
}

/** The manifest and config of the chunked disk at `reference` (tag or digest). */
export async function openChunkedDisk(registry: RegistryPort, reference: string): Promise<ChunkedDisk> {
  const what = `${registry.repository}:${reference}`;
  const manifest = await registry.getManifest(reference);
  const parsed = parseChunkedManifest(manifest.body, what);
  const config = chunkedConfigSchema.safeParse(
    JSON.parse((await registry.getBlob(parsed.config.digest)).toString('utf8')),
  );
  if (!config.success)
    throw new NotChunkedError(`${what}: the config does not parse: ${config.error.issues[0]?.message}`);
  if (config.data.formatVersion > FORMAT_VERSION) {
    throw new NotChunkedError(
      `${what} is chunked format ${config.data.formatVersion}; this version reads up to ${FORMAT_VERSION}`,
    );
  }
  const last = parsed.chunks.at(-1);
  if (last && last.offset + last.length > config.data.diskSize) {
    throw new NotChunkedError(`${what}: a chunk ends past the disk's ${config.data.diskSize} bytes`);
  }
  return {
    digest: manifest.digest,
    config: config.data,
    chunks: parsed.chunks,
    annotations: parsed.annotations,
  };
}

/** Digests of the referenced blobs the registry does not have (HEAD each distinct one). */
export async function missingBlobs(
  registry: RegistryPort,
  disk: ChunkedDisk,
  concurrency = 8,
): Promise<string[]> {
  const digests = [...new Set(disk.chunks.map((c) => c.digest))];
  const missing: string[] = [];
  for (let i = 0; i < digests.length; i += concurrency) {
    const batch = digests.slice(i, i + concurrency);
    const present = await Promise.all(batch.map((d) => registry.blobExists(d)));
    batch.forEach((d, j) => {
      if (!present[j]) missing.push(d);
    });
  }
  return missing;
}

/**
 * The disk's bytes in order, exactly config.diskSize of them. Each chunk is checked
 * (length and sha256) before it is handed out; the whole disk's sha256 is checked after
 * the last byte, so a consumer that reads to the end has read a verified disk.
 */
export async function* chunkedDiskBytes(registry: RegistryPort, disk: ChunkedDisk): AsyncGenerator<Buffer> {
  const { diskSize, chunkSize } = disk.config;
  const zeros = Buffer.alloc(Math.min(chunkSize, Math.max(diskSize, 1)));
  const whole = new StreamDigest();
  const fetchChunk = async (chunk: ChunkRef) => {
    const bytes = await decompressChunk(await registry.getBlob(chunk.digest), chunk.length);
    const sha256 = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (bytes.length !== chunk.length || sha256 !== chunk.sha256) {
      throw new DataPathError(
        'DigestMismatch',
        `chunk at offset ${chunk.offset} (${chunk.digest}) decompresses to ${bytes.length} bytes with ${sha256}, ` +
          `recorded ${chunk.length} bytes with ${chunk.sha256}`,
        { retryable: false },
      );
    }
    return bytes;
  };
  let at = 0;
  let next = disk.chunks[0] ? fetchChunk(disk.chunks[0]) : undefined;
  // A rejected prefetch is awaited below; this keeps it from counting as unhandled meanwhile.
  next?.catch(() => undefined);
  for (let i = 0; i < disk.chunks.length; i++) {
    const chunk = disk.chunks[i]!;
    for (; at < chunk.offset;) {
      const n = Math.min(zeros.length, chunk.offset - at);
      const gap = zeros.subarray(0, n);
      whole.update(gap);
      at += n;
      yield gap;
    }
    const bytes = await next!;
    const following = disk.chunks[i + 1];
    next = following ? fetchChunk(following) : undefined;
    next?.catch(() => undefined);
    whole.update(bytes);
    at += bytes.length;
    yield bytes;
  }
  while (at < diskSize) {
    const gap = zeros.subarray(0, Math.min(zeros.length, diskSize - at));
    whole.update(gap);
    at += gap.length;
    yield gap;
  }
  if (whole.digest() !== disk.config.diskSha256) {
    throw new DataPathError(
      'DigestMismatch',
      `the reassembled disk has ${whole.digest()}, recorded ${disk.config.diskSha256}`,
      { retryable: false },
    );
  }
}

export interface VerifiedChunkedDisk {
  digest: string;
  diskSize: number;
  diskSha256: string;
  chunks: number;
  /** Distinct blobs referenced. */
  blobs: number;
}

/**
 * Reads a chunked disk back whole: every referenced blob present, every chunk's and the
 * whole disk's sha256 as recorded. Throws a DataPathError (DigestMismatch) naming what differs.
 */
export async function verifyChunkedDisk(
  registry: RegistryPort,
  reference: string,
): Promise<VerifiedChunkedDisk> {
  const disk = await openChunkedDisk(registry, reference);
  const missing = await missingBlobs(registry, disk);
  if (missing.length > 0) {
    throw new DataPathError(
      'DigestMismatch',
      `${registry.repository}@${disk.digest} references ${missing.length} blob(s) the registry does not have, e.g. ${missing[0]}`,
      { retryable: false },
    );
  }
  let size = 0;
  for await (const bytes of chunkedDiskBytes(registry, disk)) size += bytes.length;
  if (size !== disk.config.diskSize) {
    throw new DataPathError('DigestMismatch', `reassembled ${size} bytes, recorded ${disk.config.diskSize}`, {
      retryable: false,
    });
  }
  return {
    digest: disk.digest,
    diskSize: size,
    diskSha256: disk.config.diskSha256,
    chunks: disk.chunks.length,
    blobs: new Set(disk.chunks.map((c) => c.digest)).size,
  };
}
