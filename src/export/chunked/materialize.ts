// A chunked backup turned into a bootable containerDisk image, in the same repository,
// without reading the VM again: the chunks are read, checked and reassembled in order
// (read-chunked-disk.ts) and fed to the containerDisk path as its raw disk, so the
// result is what a containerDisk push of that disk would have made (tar entry
// disk/disk.img, compressed layer, config, manifest) and restores through CDI's
// registry import like any other image.
import { ANNOTATION, metadataOf } from '../annotations.js';
import { pushDiskImage, type PushedDiskImage } from '../push-disk-image.js';
import type { Compression } from '../parallel-compress.js';
import type { ProgressCallback } from '../progress.js';
import type { RegistryPort } from '../registry-port.js';
import { chunkedDiskBytes, openChunkedDisk } from './read-chunked-disk.js';

export interface MaterializeOptions {
  registry: RegistryPort;
  /** Tag or digest of the chunked backup in the registry's repository. */
  reference: string;
  /** Where the containerDisk image goes (a tag in the same repository). */
  tag: string;
  /** Default gzip: every runtime and CDI read it. */
  compression?: Compression;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export interface MaterializedImage extends PushedDiskImage {
  /** The chunked backup's manifest digest. */
  from: string;
}

export async function materializeChunkedDisk(options: MaterializeOptions): Promise<MaterializedImage> {
  const { registry } = options;
  const disk = await openChunkedDisk(registry, options.reference);
  const a = disk.annotations;
  const image = await pushDiskImage({
    source: { opened: { size: disk.config.diskSize, body: chunkedDiskBytes(registry, disk) } },
    registry,
    tag: options.tag,
    imageName: a[ANNOTATION.title] ?? options.reference,
    sourceVm: {
      namespace: a[ANNOTATION.sourceNamespace],
      name: a[ANNOTATION.sourceName],
      uid: a[ANNOTATION.sourceUid],
    },
    volume: a[ANNOTATION.volume],
    metadata: metadataOf(a),
    // The backup's own time: materializing the same backup twice gives the same image.
    created: new Date(disk.config.created),
    configLabels: disk.config.labels,
    architecture: disk.config.architecture,
    compression: options.compression ?? 'gzip',
    diskFormat: 'raw',
    // Hashed again on the way into the layer, and recorded on it like any containerDisk's.
    diskSha256: true,
    onProgress: options.onProgress,
    signal: options.signal,
  });
  if (image.diskSha256 !== disk.config.diskSha256) {
    throw new Error(
      `the materialized disk has ${image.diskSha256}, the backup records ${disk.config.diskSha256}`,
    );
  }
  return { ...image, from: disk.digest };
}
