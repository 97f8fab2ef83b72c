// A day in the life of a server's disk, for the incremental backup bench: on the real ext4
// image (real-disk.ts) some files are rewritten, some changed in place, some added, some
// deleted, about `share` (2%) of the used bytes a day. Done with real file-system
// operations: the image is loop-mounted (`mount -o loop`, as root) and the kernel's ext4
// does the writes, so block allocation, the journal, inode tables, bitmaps and group
// descriptors change as on a VM's disk; then synced and unmounted. (debugfs -w could
// write files without root, but through e2fsprogs' own allocator and without a journal:
// further from what a VM does.) Mounted without `discard`, as most VMs run: a deleted
// file's blocks keep their old bytes until reused.
//
// Deterministic: every choice comes from a PRNG seeded by (seed, day), over the files
// in sorted order, so the same disk and seed make the same changes (the kernel still
// places the blocks; that is its own). New bytes are real bytes: another file of the
// disk, with one byte per 4 KiB block changed, so they compress as the disk's files
// do but no 4 KiB block of them is already on the disk (a package update does not
// write the old binary again).
//
// How a day splits the budget (bytes written, not counting metadata):
//   55% rewrite whole files, as a package update does (write a temp file, fsync, rename)
//   15% change ranges of files in place (a database's pages, a log's tail)
//   30% add new files in a new directory
// and besides, files of about a fifth of the budget are deleted, so the disk's used
// bytes stay roughly level over the week.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statfsSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

export interface DayOfChangeOptions {
  /** Seeds the PRNG, with the day. */
  seed: string;
  day: number;
  /** Share of the used bytes written this day (default 0.02). */
  share?: number;
  /** Where the mount point is made. */
  work: string;
}

export interface DayOfChange {
  usedBytesBefore: number;
  usedBytesAfter: number;
  rewritten: { files: number; bytes: number };
  changedInPlace: { files: number; bytes: number };
  added: { files: number; bytes: number };
  deleted: { files: number; bytes: number };
  /** rewritten + changed in place + added. */
  writtenBytes: number;
}

const BLOCK = 4096;
/** Files larger than this are not rewritten or copied whole (a day's budget is a few tens of MiB). */
const MAX_WHOLE_FILE = 16 * 1024 * 1024;

/** A seeded PRNG: sha256 in counter mode; next() is uniform in [0, 1). */
export class SeededRandom {
  private counter = 0;
  private pool = Buffer.alloc(0);
  private at = 0;
  constructor(private readonly seed: string) {}
  private refill(): void {
    this.pool = createHash('sha256').update(`${this.seed}/${this.counter++}`).digest();
    this.at = 0;
  }
  next(): number {
    if (this.at + 4 > this.pool.length) this.refill();
    const v = this.pool.readUInt32BE(this.at);
    this.at += 4;
    return v / 2 ** 32;
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  pick<T>(items: T[]): T {
    return items[this.int(items.length)]!;
  }
}

interface FileEntry {
  path: string;
  size: number;
}

/** The regular files under `root`, in sorted order (lost+found left out). */
function listFiles(root: string): FileEntry[] {
  const out: FileEntry[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      if (dir === root && name === 'lost+found') continue;
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push({ path: p, size: st.size });
    }
  };
  walk(root);
  return out;
}

function usedBytes(root: string): number {
  const s = statfsSync(root);
  return (s.blocks - s.bfree) * s.bsize;
}

/**
 * `length` new bytes: a stretch of another file of the disk (`from`), repeated as needed,
 * with one byte in each 4 KiB block set by the PRNG, so that no block equals one already
 * on the disk while the data compresses as the disk's own.
 */
function newBytes(random: SeededRandom, from: FileEntry, length: number): Buffer {
  const source = readFileSync(from.path);
  const out = Buffer.alloc(length);
  if (source.length === 0) {
    for (let i = 0; i < length; i++) out[i] = random.int(256);
    return out;
  }
  let at = 0;
  let offset = random.int(source.length);
  while (at < length) {
    const n = source.copy(out, at, offset, Math.min(source.length, offset + length - at));
    at += n;
    offset = 0;
  }
  for (let b = 0; b < length; b += BLOCK) {
    const i = b + random.int(Math.min(BLOCK, length - b));
    // A value that differs from the byte there: the block cannot stay the same.
    out[i] = (out[i]! + 1 + random.int(255)) & 0xff;
  }
  return out;
}

/** A file to take new bytes from: any non-empty one, small or large. */
function donor(random: SeededRandom, files: FileEntry[]): FileEntry {
  for (let tries = 0; tries < 20; tries++) {
    const f = random.pick(files);
    if (f.size > 0 && f.size <= MAX_WHOLE_FILE) return f;
  }
  return random.pick(files);
}

function writeDurably(file: string, data: Buffer, position?: number): void {
  const fd = openSync(file, position === undefined ? 'w' : 'r+');
  try {
    writeSync(fd, data, 0, data.length, position ?? 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Applies one day of change to the mounted file system at `root`. */
export function changeFileSystem(root: string, options: Omit<DayOfChangeOptions, 'work'>): DayOfChange {
  const random = new SeededRandom(`${options.seed}/day-${options.day}`);
  const usedBytesBefore = usedBytes(root);
  const budget = Math.round(usedBytesBefore * (options.share ?? 0.02));
  const files = listFiles(root);
  if (files.length === 0) throw new Error(`day of change: no files on the disk at ${root}`);
  const result: DayOfChange = {
    usedBytesBefore,
    usedBytesAfter: 0,
    rewritten: { files: 0, bytes: 0 },
    changedInPlace: { files: 0, bytes: 0 },
    added: { files: 0, bytes: 0 },
    deleted: { files: 0, bytes: 0 },
    writtenBytes: 0,
  };
  const gone = new Set<string>();
  // Files not yet touched today that fit in what is left of a share of the budget: the
  // day stays near its 2% even on a small disk, whose largest files would overshoot it.
  const candidates = (left: number) =>
    files.filter((f) => !gone.has(f.path) && f.size > 0 && f.size <= Math.min(MAX_WHOLE_FILE, left));
  let pool = candidates(budget * 0.55);

  // Whole-file rewrites: a new version of the same size, give or take an eighth.
  while (result.rewritten.bytes < budget * 0.55 && pool.length > 0) {
    const f = random.pick(pool);
    const size = Math.max(1, Math.round(f.size * (0.875 + random.next() * 0.25)));
    const tmp = `${f.path}.new`;
    writeDurably(tmp, newBytes(random, donor(random, pool), size));
    renameSync(tmp, f.path);
    gone.add(f.path); // not rewritten twice in a day
    result.rewritten.files++;
    result.rewritten.bytes += size;
    pool = candidates(budget * 0.55 - result.rewritten.bytes);
  }

  // In place: a few 4 KiB-aligned ranges of a larger file, as pages of a database.
  const large = files.filter((f) => !gone.has(f.path) && f.size >= 16 * BLOCK);
  while (result.changedInPlace.bytes < budget * 0.15 && large.length > 0) {
    const f = random.pick(large);
    const blocks = Math.floor(f.size / BLOCK);
    const left = Math.ceil((budget * 0.15 - result.changedInPlace.bytes) / BLOCK);
    const run = Math.min(left, 1 + random.int(Math.min(16, blocks)));
    const start = random.int(blocks - run + 1) * BLOCK;
    writeDurably(f.path, newBytes(random, donor(random, files), run * BLOCK), start);
    result.changedInPlace.files++;
    result.changedInPlace.bytes += run * BLOCK;
  }

  // New files, in a directory of their own for the day.
  const dir = path.join(root, `day-${options.day}`);
  mkdirSync(dir, { recursive: true });
  pool = candidates(MAX_WHOLE_FILE);
  for (let n = 0; result.added.bytes < budget * 0.3 && pool.length > 0; n++) {
    const like = random.pick(pool);
    const size = Math.max(1, Math.min(like.size, Math.ceil(budget * 0.3 - result.added.bytes)));
    const data = newBytes(random, donor(random, pool), size);
    writeDurably(path.join(dir, `${n}-${path.basename(like.path)}`), data);
    result.added.files++;
    result.added.bytes += data.length;
  }

  // Deletions, of files not touched today.
  pool = candidates(budget * 0.2);
  while (result.deleted.bytes < budget * 0.2 && pool.length > 0) {
    const f = random.pick(pool);
    unlinkSync(f.path);
    gone.add(f.path);
    result.deleted.files++;
    result.deleted.bytes += f.size;
    pool = candidates(budget * 0.2 - result.deleted.bytes);
  }

  result.writtenBytes = result.rewritten.bytes + result.changedInPlace.bytes + result.added.bytes;
  execFileSync('sync', ['-f', root]);
  result.usedBytesAfter = usedBytes(root);
  return result;
}

/**
 * One day of change on the ext4 image `image`: loop-mounted, changed, unmounted. Needs
 * root (mount); says so plainly otherwise.
 */
export function applyDayOfChange(image: string, options: DayOfChangeOptions): DayOfChange {
  if (process.getuid?.() !== 0)
    throw new Error('the day of change loop-mounts the disk image, which needs root (run the bench as root)');
  const mountPoint = mkdtempSync(path.join(options.work, 'day-of-change-'));
  try {
    execFileSync('mount', ['-t', 'ext4', '-o', 'loop', image, mountPoint], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    rmdirSync(mountPoint);
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    throw new Error(`day of change: cannot loop-mount ${image}: ${why}`, { cause: err });
  }
  try {
    return changeFileSystem(mountPoint, options);
  } finally {
    execFileSync('umount', [mountPoint]);
    rmdirSync(mountPoint);
  }
}

/** For the bench's log: what a day did, in a line. */
export function describeDay(d: DayOfChange): string {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return (
    `rewrote ${d.rewritten.files} files (${mib(d.rewritten.bytes)}), changed ${d.changedInPlace.files} in place ` +
    `(${mib(d.changedInPlace.bytes)}), added ${d.added.files} (${mib(d.added.bytes)}), deleted ${d.deleted.files} ` +
    `(${mib(d.deleted.bytes)}); written ${((d.writtenBytes / d.usedBytesBefore) * 100).toFixed(2)}% of ` +
    `${mib(d.usedBytesBefore)} used`
  );
}
