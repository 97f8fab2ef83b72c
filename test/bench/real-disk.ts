// A real file system image for the benchmark, made at bench time: ext4 by
// `mke2fs -d` from real directories of this machine (binaries, libraries, text,
// docs), filled to a share of its size. The synthetic disk (test/harness/disks.ts)
// has data that suits our encoder (random letters Huffman-code well); a VM's disk
// is a file system, and this is the closest the bench gets without one.
//
// The files are staged as hard links (same file system as the work directory; no
// copy), so staging 10 GiB costs seconds; files that cannot be linked are skipped.
import { execFileSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';

export interface RealDisk {
  path: string;
  size: number;
  /** Bytes of the files staged into it, in whole 4 KiB blocks. */
  filesBytes: number;
  sources: string[];
}

/**
 * Where the files come from, in order, until the disk is full enough: binaries, text
 * and docs first (about 1 GiB here), libraries fill the rest. (The first run took
 * /usr/lib alone: libraries only.)
 */
export const SOURCE_DIRECTORIES = [
  '/usr/bin',
  '/usr/share',
  '/usr/include',
  '/usr/lib',
  '/usr/local',
  '/opt',
  '/root/.cache',
];

export function makeRealDisk(file: string, size: number, options: { fill?: number; work: string }): RealDisk {
  const staging = path.join(options.work, `staging-${path.basename(file)}`);
  const target = Math.floor(size * (options.fill ?? 0.65));
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  let staged = 0;
  const sources: string[] = [];
  const skip = new Set([path.resolve(options.work)]);

  // Depth-first, in directory order; stops once `target` bytes are staged.
  const walk = (from: string, to: string): boolean => {
    let names: string[];
    try {
      names = readdirSync(from).sort();
    } catch {
      return false;
    }
    for (const name of names) {
      if (staged >= target) return true;
      const source = path.join(from, name);
      if (skip.has(source)) continue;
      const dest = path.join(to, name);
      let st;
      try {
        st = lstatSync(source);
      } catch {
        continue;
      }
      try {
        if (st.isDirectory()) {
          mkdirSync(dest);
          if (walk(source, dest)) return true;
        } else if (st.isSymbolicLink()) {
          symlinkSync(readlinkSync(source), dest);
        } else if (st.isFile()) {
          linkSync(source, dest);
          // What it takes in ext4's 4 KiB blocks: small files count whole blocks.
          staged += Math.ceil(st.size / 4096) * 4096;
        }
      } catch {
        // Not linkable (another file system, permissions): leave it out.
      }
    }
    return false;
  };

  for (const dir of SOURCE_DIRECTORIES) {
    if (staged >= target) break;
    const dest = path.join(staging, dir.replace(/^\//, '').replace(/\//g, '_'));
    mkdirSync(dest, { recursive: true });
    sources.push(dir);
    walk(dir, dest);
  }
  rmSync(file, { force: true });
  // ext4 as a cloud image has it; -d copies the tree in, -E root_owner keeps it root's.
  execFileSync(
    'mke2fs',
    ['-q', '-F', '-t', 'ext4', '-d', staging, '-E', 'root_owner=0:0', file, `${size / 1024}k`],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  rmSync(staging, { recursive: true, force: true });
  return { path: file, size, filesBytes: staged, sources };
}
