// The reconciler's entry to chunked disks: a VirtualMachineExport's raw disk pushed as a
// chunked artifact, reported in the shape of a containerDisk push (so status.images and
// the VM artifact treat both alike) with what was new and what was reused.
import type { PushDiskImageOptions, PushedDiskImage } from '../push-disk-image.js';
import { openExportSource, type ExportSourceOptions } from '../source.js';
import { pushChunkedDisk } from './push-chunked-disk.js';

export interface PushChunkedExportOptions extends Pick<
  PushDiskImageOptions,
  | 'source'
  | 'registry'
  | 'tag'
  | 'imageName'
  | 'sourceVm'
  | 'volume'
  | 'metadata'
  | 'created'
  | 'configLabels'
  | 'architecture'
  | 'onProgress'
  | 'progressIntervalMs'
  | 'signal'
> {
  source: ExportSourceOptions;
  /** Earlier backups in the repository (digests) whose chunks may be reused. */
  previous: string[];
  chunkSize?: number;
}

export async function pushChunkedExport(options: PushChunkedExportOptions): Promise<PushedDiskImage> {
  const disk = await openExportSource(options.source);
  const pushed = await pushChunkedDisk({ ...options, disk });
  return {
    reference: pushed.reference,
    digest: pushed.digest,
    tag: pushed.tag,
    size: pushed.size,
    diskFormat: 'raw',
    fileSize: pushed.size,
    // No single layer: the config stands in, and size is what the backup references.
    layerDigest: '',
    layerSize: pushed.bytes.referenced,
    diffId: '',
    diskSha256: pushed.diskSha256,
    chunked: {
      chunkSize: pushed.chunkSize,
      chunks: pushed.chunks.total,
      zeroChunks: pushed.chunks.zero,
      newChunks: pushed.chunks.uploaded,
      reusedChunks: pushed.chunks.reused,
      newBytes: pushed.bytes.uploaded,
      reusedBytes: pushed.bytes.reused,
      diskSha256: pushed.diskSha256,
    },
  };
}
