// A qcow2 file streamed from a raw disk that can be read twice, with no scratch
// file: pass 1 reads the disk once and maps its non-zero clusters
// (cluster-map.ts); from the map alone the file's layout and size follow
// (qcow2-layout.ts), so the tar header can be written; pass 2 writes header and
// tables from the map, then reads the disk again, by Range, for the non-zero
// clusters only, and passes their bytes through in guest order.
import { ClusterMap, DEFAULT_CLUSTER_BITS, isZero, markNonZero } from './cluster-map.js';
import { DataPathError } from './errors.js';
import { headerCluster, metadataClusters, type Qcow2Layout } from './qcow2-layout.js';

/** Bytes [start, end) of the disk, in order; each chunk valid until the next is requested. */
export type RangeReader = (start: number, end: number) => AsyncIterable<Buffer>;

/**
 * Zero clusters between two non-zero runs are read through rather than skipped
 * by a new request when the gap is at most this: a request costs a TLS handshake
 * (the export client opens one connection per request), a few ms, in which the
 * export delivers several MiB.
 */
export const DEFAULT_MERGE_GAP_BYTES = 8 * 1024 * 1024;

/** Pass 1: the disk's map of non-zero clusters. `onChunk` sees every chunk (progress, a digest of the raw disk). */
export async function mapNonZeroClusters(
  disk: AsyncIterable<Buffer>,
  diskSize: number,
  options: { clusterBits?: number; onChunk?: (chunk: Buffer) => void } = {},
): Promise<ClusterMap> {
  const map = new ClusterMap(diskSize, options.clusterBits ?? DEFAULT_CLUSTER_BITS);
  let position = 0;
  for await (const chunk of disk) {
    options.onChunk?.(chunk);
    markNonZero(map, position, chunk);
    position += chunk.length;
  }
  if (position !== diskSize) {
    throw new DataPathError('ExportTruncated', `the disk delivered ${position} of ${diskSize} bytes`, {
      retryable: true,
    });
  }
  return map;
}

/** The byte ranges pass 2 reads: the non-zero runs, merged across gaps of at most `mergeGapBytes`. */
export function* readRanges(
  map: ClusterMap,
  mergeGapBytes = DEFAULT_MERGE_GAP_BYTES,
): Generator<{ start: number; end: number }> {
  const size = map.clusterSize;
  const gapClusters = Math.floor(mergeGapBytes / size);
  let current: { first: number; end: number } | undefined;
  for (const run of map.runs()) {
    if (current && run.first - current.end <= gapClusters) {
      current.end = run.end;
      continue;
    }
    if (current) yield bytesOf(current);
    current = { ...run };
  }
  if (current) yield bytesOf(current);

  function bytesOf(run: { first: number; end: number }) {
    return { start: run.first * size, end: Math.min(run.end * size, map.diskSize) };
  }
}

/**
 * Pass 2: the qcow2 file, exactly layout.fileSize bytes. Chunks are valid until
 * the next one is requested. A cluster pass 1 found zero must still be zero when
 * read through (else ExportChanged: the file would not hold the disk).
 */
export async function* qcow2Stream(
  layout: Qcow2Layout,
  map: ClusterMap,
  read: RangeReader,
  options: { mergeGapBytes?: number } = {},
): AsyncGenerator<Buffer> {
  yield headerCluster(layout);
  yield* metadataClusters(layout, map);
  const size = layout.clusterSize;
  for (const range of readRanges(map, options.mergeGapBytes)) {
    let position = range.start;
    for await (const chunk of read(range.start, range.end)) {
      // Runs of non-zero clusters go through as slices of the chunk, uncopied.
      let at = 0;
      let runFrom = -1;
      while (at < chunk.length) {
        const cluster = Math.floor((position + at) / size);
        const n = Math.min((cluster + 1) * size - (position + at), chunk.length - at);
        if (map.has(cluster)) {
          if (runFrom < 0) runFrom = at;
        } else {
          if (runFrom >= 0) yield chunk.subarray(runFrom, at);
          runFrom = -1;
          if (!isZero(chunk, at, at + n)) throw changed(cluster, size);
        }
        at += n;
      }
      if (runFrom >= 0) yield chunk.subarray(runFrom, at);
      position += chunk.length;
    }
    if (position !== range.end) {
      throw new DataPathError(
        'ExportTruncated',
        `the disk delivered bytes ${range.start}-${position} of ${range.start}-${range.end}`,
        { retryable: true },
      );
    }
    // The disk's last cluster may be partial; its data cluster in the file is whole.
    if (range.end === layout.diskSize && layout.diskSize % size !== 0) {
      yield Buffer.alloc(size - (layout.diskSize % size));
    }
  }
}

function changed(cluster: number, size: number): DataPathError {
  return new DataPathError(
    'ExportChanged',
    `the disk's cluster at byte ${cluster * size} was all zeros on the first read and is not on the second; ` +
      'the export changed while it was read',
    { retryable: true },
  );
}
