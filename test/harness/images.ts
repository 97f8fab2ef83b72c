// Reading a pushed containerDisk back with crane, as a user's tools would, and checking
// the disk that CDI's importer made of it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import type { Crane } from './crane.js';

/** sha256 (hex) of disk/disk.img in the image's filesystem (`crane export` + GNU tar). */
export async function imageDiskSha256(crane: Crane, ref: string): Promise<string> {
  const tar = await crane.exportTar(ref);
  const disk = execFileSync('tar', ['-xOf', '-', 'disk/disk.img'], { input: tar, maxBuffer: 1 << 30 });
  return createHash('sha256').update(disk).digest('hex');
}

export interface ImportedDisk {
  /** The file's size: CDI grows the disk to the PVC's usable size. */
  size: number;
  /** sha256 (hex) of the file's first `length` bytes. */
  sha256: string;
  /** Every byte after the first `length` is zero (the padding CDI adds). */
  zeroTail: boolean;
}

const CHUNK = 1 << 20;
const ZEROS = Buffer.alloc(CHUNK);

/** What an imported disk file holds: the source disk's `length` bytes, then only zeros? */
export async function importedDisk(file: string, length: number): Promise<ImportedDisk> {
  const hash = createHash('sha256');
  let at = 0;
  let zeroTail = true;
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK }) as AsyncIterable<Buffer>) {
    const head = chunk.subarray(0, Math.max(0, Math.min(chunk.length, length - at)));
    hash.update(head);
    const tail = chunk.subarray(head.length);
    if (zeroTail && !tail.equals(ZEROS.subarray(0, tail.length))) zeroTail = false;
    at += chunk.length;
  }
  return { size: statSync(file).size, sha256: hash.digest('hex'), zeroTail };
}
