// The data path library: a VirtualMachineExport's raw disk -> a bootable containerDisk image in a registry.
export { pushDiskImage, DISK_SHA256_ANNOTATION } from './push-disk-image.js';
export type { PushDiskImageOptions, PushedDiskImage, UploadedLayer } from './push-disk-image.js';
export { openExportSource } from './source.js';
export type { ExportSource, ExportSourceOptions } from './source.js';
export { DataPathError } from './errors.js';
export type { DataPathReason } from './errors.js';
export {
  ANNOTATION,
  imageAnnotations,
  metadataAnnotationKey,
  metadataKeyOf,
  metadataOf,
} from './annotations.js';
export { MEDIA_TYPE } from './image.js';
export type { Compression } from './parallel-compress.js';
export type { DiskFormat } from './disk-file.js';
export type { Progress, ProgressCallback } from './progress.js';
export type { RegistryPort } from './registry-port.js';
export { DISK_DIRECTORY, DISK_FILE, QEMU_UID } from './disk-layer.js';
