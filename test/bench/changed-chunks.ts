// The yardstick for the chunked push's uploads: what a day's backup has to send at the
// least. The disk file is cut into the chunked format's fixed-size chunks; a chunk that
// is not all zeros and whose sha256 no earlier day had (nor an earlier chunk of the same
// day) is "changed", and its cost is its size compressed as the format compresses it
// (zstd at the format's level, one frame). Computed by the bench from the file itself,
// not taken from the push's own accounting.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { compressChunk } from '../../src/export/chunked/index.js';

export interface ChangedChunks {
  chunks: number;
  /** Uncompressed bytes of the changed chunks. */
  bytes: number;
  /** Their compressed size: the least a backup of this day uploads. */
  compressedBytes: number;
}

/** Reads `file` chunk by chunk; `seen` (sha256s of earlier days) grows by this day's chunks. */
export async function changedChunks(
  file: string,
  chunkSize: number,
  seen: Set<string>,
): Promise<ChangedChunks> {
  const out: ChangedChunks = { chunks: 0, bytes: 0, compressedBytes: 0 };
  const fd = openSync(file, 'r');
  const zeros = Buffer.alloc(chunkSize);
  try {
    for (let position = 0; ; position += chunkSize) {
      const chunk = Buffer.alloc(chunkSize);
      const n = readSync(fd, chunk, 0, chunkSize, position);
      if (n === 0) break;
      const bytes = chunk.subarray(0, n);
      if (bytes.equals(zeros.subarray(0, n))) continue;
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (seen.has(sha256)) continue;
      seen.add(sha256);
      out.chunks++;
      out.bytes += n;
      out.compressedBytes += (await compressChunk(bytes)).length;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
