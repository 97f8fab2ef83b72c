// The file that goes into the layer as disk/disk.img, in the format asked for:
// raw, the export's bytes as they come (one read), or qcow2, only the non-zero
// clusters with qcow2's tables (two reads: qcow2-stream.ts). Either way its size
// is known before its first byte, as the tar header needs.
import type { StreamDigest } from './digest.js';
import { qcow2Layout } from './qcow2-layout.js';
import { mapNonZeroClusters, qcow2Stream, readRanges } from './qcow2-stream.js';
import { readExportRange, type ExportSource, type ExportSourceOptions } from './source.js';

export type DiskFormat = 'raw' | 'qcow2';

export interface DiskFile {
  format: DiskFormat;
  /** Bytes of the file (the tar entry's size). */
  size: number;
  /** Where the disk's own bytes start in the file (after a qcow2 file's header and tables). */
  dataOffset: number;
  body: AsyncIterable<Buffer>;
}

export interface DiskFileHooks {
  /**
   * Export bytes read so far, of how many in all (both passes for qcow2; the
   * second pass's share is the whole disk until the first pass has mapped it).
   */
  onRead(done: number, total: number): void;
  /** Fed the raw disk's bytes, in order, once. */
  diskDigest?: StreamDigest;
  /** Failing the read is how a push stops. */
  signal?: AbortSignal;
}

export async function openDiskFile(
  format: DiskFormat,
  source: ExportSource,
  /** Where to read again (qcow2's second pass); without it, only raw can be made. */
  sourceOptions: ExportSourceOptions | undefined,
  hooks: DiskFileHooks,
): Promise<DiskFile> {
  let done = 0;
  let total = format === 'qcow2' ? 2 * source.size : source.size;
  async function* counted(bytes: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of bytes) {
      hooks.signal?.throwIfAborted();
      done += chunk.length;
      hooks.onRead(done, total);
      yield chunk;
    }
  }

  if (format === 'raw') {
    const digest = hooks.diskDigest;
    async function* raw(): AsyncGenerator<Buffer> {
      for await (const chunk of counted(source.body)) {
        digest?.update(chunk);
        yield chunk;
      }
    }
    return { format, size: source.size, dataOffset: 0, body: raw() };
  }

  if (!sourceOptions)
    throw new Error('a qcow2 disk file needs an export to read twice; this source is read once');
  const map = await mapNonZeroClusters(counted(source.body), source.size, {
    onChunk: hooks.diskDigest && ((chunk) => hooks.diskDigest!.update(chunk)),
  });
  const layout = qcow2Layout(map);
  let secondPass = 0;
  for (const range of readRanges(map)) secondPass += range.end - range.start;
  total = source.size + secondPass;
  hooks.onRead(done, total);
  const read = (start: number, end: number) =>
    counted(readExportRange(sourceOptions, { start, end, size: source.size }));
  return {
    format,
    size: layout.fileSize,
    dataOffset: layout.dataStart * layout.clusterSize,
    body: qcow2Stream(layout, map, read),
  };
}
