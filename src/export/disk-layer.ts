// The containerDisk layer, laid out as kubevirt/containerdisks builds it:
// `disk/` (directory, 0555) and `disk/disk.img` (0444), both owned by uid/gid
// 107 (qemu in virt-launcher). The tar is produced as a stream (tar-stream):
// the disk's bytes go straight from the export into the tar entry.
import tar from 'tar-stream';

export const DISK_DIRECTORY = 'disk/';
export const DISK_FILE = 'disk/disk.img';
export const QEMU_UID = 107;

export interface DiskLayerOptions {
  /** Exact size of the disk: tar headers carry it before any byte is read. */
  size: number;
  /** mtime of both entries; fixed so that the same disk always gives the same layer. Default: the epoch. */
  mtime?: Date;
}

/** A tar stream with the disk under disk/disk.img. Fails if `disk` yields a different number of bytes than `size`. */
export function diskLayerTar(disk: AsyncIterable<Buffer>, options: DiskLayerOptions): AsyncIterable<Buffer> {
  const mtime = options.mtime ?? new Date(0);
  const owner = { uid: QEMU_UID, gid: QEMU_UID };
  const pack = tar.pack();
  pack.entry({ name: DISK_DIRECTORY, type: 'directory', mode: 0o555, mtime, ...owner });
  const entry = pack.entry({
    name: DISK_FILE,
    type: 'file',
    mode: 0o444,
    size: options.size,
    mtime,
    ...owner,
  });

  // The entry's errors (e.g. a size mismatch) destroy the pack, where the reader sees them.
  entry.on('error', () => undefined);
  const writable = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        entry.off('drain', done);
        entry.off('close', done);
        resolve();
      };
      entry.on('drain', done);
      entry.on('close', done);
    });
  const pump = async () => {
    // Leaving this loop early (pack destroyed) closes the disk's connection.
    for await (const chunk of disk) {
      if (pack.destroyed || entry.destroyed) return;
      if (!entry.write(chunk)) await writable();
    }
    entry.end(() => undefined);
    pack.finalize();
  };
  pump().catch((err: Error) => pack.destroy(err));
  // streamx's Readable is async-iterable; its typings predate Buffer's generic.
  return pack as unknown as AsyncIterable<Buffer>;
}
