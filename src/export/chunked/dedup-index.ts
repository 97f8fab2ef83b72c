// Which chunks the repository already holds, by their uncompressed sha256: read from the
// manifests of earlier backups (their layer annotations), so that a push looks a chunk up
// before compressing it. The registry stays the only store: nothing is cached elsewhere.
import { isRegistryError } from '../../registry/index.js';
import type { RegistryPort } from '../registry-port.js';
import { NotChunkedError, parseChunkedManifest } from './format.js';

export interface StoredChunk {
  digest: string;
  size: number;
}

/** uncompressed sha256 -> the compressed blob that holds it. */
export type DedupIndex = Map<string, StoredChunk>;

export interface DedupIndexResult {
  index: DedupIndex;
  /** The references that were read (a missing or non-chunked one is skipped). */
  read: string[];
  skipped: { reference: string; why: string }[];
}

/**
 * Builds the index from earlier backups (tags or digests in the registry's repository).
 * A backup that is gone (deleted by rotation meanwhile) or is not chunked is skipped:
 * the index only saves work, a miss costs a compression and an upload.
 */
export async function buildDedupIndex(
  registry: RegistryPort,
  references: string[],
): Promise<DedupIndexResult> {
  const index: DedupIndex = new Map();
  const read: string[] = [];
  const skipped: DedupIndexResult['skipped'] = [];
  for (const reference of references) {
    let body: Buffer;
    try {
      body = (await registry.getManifest(reference)).body;
    } catch (err) {
      if (isRegistryError(err) && err.reason === 'RegistryNotFound') {
        skipped.push({ reference, why: 'not in the registry' });
        continue;
      }
      throw err;
    }
    try {
      for (const chunk of parseChunkedManifest(body, reference).chunks) {
        index.set(chunk.sha256, { digest: chunk.digest, size: chunk.size });
      }
      read.push(reference);
    } catch (err) {
      if (!(err instanceof NotChunkedError)) throw err;
      skipped.push({ reference, why: err.message });
    }
  }
  return { index, read, skipped };
}
