// Pieces the real-VM files share (real-vm-backup.test.ts, real-vm-verify.test.ts).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { imageTarball } from '../harness/container-images.js';

/** The vm-guest image's disk/disk.img (its one layer), the bytes of a VM's disk claim, under `dir`. */
export function guestDisk(dir: string): string {
  const tarball = imageTarball('vm-guest');
  const manifest = JSON.parse(
    execFileSync('tar', ['-xOf', tarball, 'manifest.json'], { encoding: 'utf8' }),
  ) as {
    Layers: string[];
  }[];
  execFileSync('sh', [
    '-c',
    'tar -xOf "$1" "$2" | tar -x -C "$3" disk/disk.img',
    'sh',
    tarball,
    manifest[0]!.Layers[0]!,
    dir,
  ]);
  return path.join(dir, 'disk', 'disk.img');
}
