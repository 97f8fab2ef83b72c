// Reading a pushed containerDisk back with crane, as a user's tools would.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Crane } from './crane.js';

/** sha256 (hex) of disk/disk.img in the image's filesystem (`crane export` + GNU tar). */
export async function imageDiskSha256(crane: Crane, ref: string): Promise<string> {
  const tar = await crane.exportTar(ref);
  const disk = execFileSync('tar', ['-xOf', '-', 'disk/disk.img'], { input: tar, maxBuffer: 1 << 30 });
  return createHash('sha256').update(disk).digest('hex');
}
