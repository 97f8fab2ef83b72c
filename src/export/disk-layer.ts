// The containerDisk layer, laid out as kubevirt/containerdisks builds it:
// `disk/` (directory, 0555) and `disk/disk.img` (0444), both owned by uid/gid
// 107 (qemu in virt-launcher), as a stream.
//
// tar-stream writes the two headers. The disk's bytes then pass through as
// they are, followed by what ends every tar archive: zeros up to the next 512
// byte record and two zero records. Feeding GiBs through tar-stream's streams
// instead cost a stream write, a push and an iterator step per 16 KiB TLS
// record on the main thread - CPU and, above all, heap garbage.
import tar from 'tar-stream';

export const DISK_DIRECTORY = 'disk/';
export const DISK_FILE = 'disk/disk.img';
export const QEMU_UID = 107;

const RECORD = 512;
/** Two headers: the names are short, so no PAX or GNU long-name records. The disk starts right after them. */
export const TAR_HEADER_BYTES = 2 * RECORD;
const END_OF_ARCHIVE = 2 * RECORD;

export interface DiskLayerOptions {
  /** Exact size of the disk: tar headers carry it before any byte is read. */
  size: number;
  /** mtime of both entries; fixed so that the same disk always gives the same layer. Default: the epoch. */
  mtime?: Date;
}

/**
 * A tar stream with the disk under disk/disk.img. Chunks of `disk` are passed
 * on as they are (same buffers). Fails if `disk` yields a different number of
 * bytes than `size`.
 */
export async function* diskLayerTar(
  disk: AsyncIterable<Buffer>,
  options: DiskLayerOptions,
): AsyncGenerator<Buffer> {
  yield await tarHeaders(options.size, options.mtime ?? new Date(0));
  let seen = 0;
  for await (const chunk of disk) {
    seen += chunk.length;
    if (seen > options.size) throw sizeMismatch(options.size, `more than ${options.size}`);
    yield chunk;
  }
  if (seen !== options.size) throw sizeMismatch(options.size, String(seen));
  yield Buffer.alloc(((RECORD - (options.size % RECORD)) % RECORD) + END_OF_ARCHIVE);
}

function sizeMismatch(size: number, got: string): Error {
  return new Error(`size mismatch: the tar header says ${size} bytes, the disk delivered ${got}`);
}

/** The headers of `disk/` and `disk/disk.img`, as tar-stream encodes them. */
async function tarHeaders(size: number, mtime: Date): Promise<Buffer> {
  const owner = { uid: QEMU_UID, gid: QEMU_UID };
  const pack = tar.pack();
  pack.entry({ name: DISK_DIRECTORY, type: 'directory', mode: 0o555, mtime, ...owner });
  // The file entry's header is written when the entry opens; its body is not
  // written here (the entry is dropped once the header is out).
  const entry = pack.entry({ name: DISK_FILE, type: 'file', mode: 0o444, size, mtime, ...owner });
  entry.on('error', () => undefined);
  const headers: Buffer[] = [];
  let length = 0;
  // streamx's Readable is async-iterable; its typings predate Buffer's generic.
  for await (const chunk of pack as unknown as AsyncIterable<Buffer>) {
    headers.push(chunk);
    length += chunk.length;
    if (length >= TAR_HEADER_BYTES) break;
  }
  entry.destroy();
  pack.destroy();
  const bytes = Buffer.concat(headers);
  if (bytes.length !== TAR_HEADER_BYTES)
    throw new Error(`tar headers: expected ${TAR_HEADER_BYTES} bytes, got ${bytes.length}`);
  return bytes;
}
