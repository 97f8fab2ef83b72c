// The incremental bench's day of change (test/bench/day-of-change.ts) on a small real ext4
// image: it writes about its share of the used bytes, deletes files, leaves a file system
// that e2fsck finds clean, and makes the same changes from the same seed. Needs root for
// the loop mount and a loop device (the bench needs them too); elsewhere the suite says why
// it is skipped.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyDayOfChange, SeededRandom } from '../bench/day-of-change.js';

// Root and a loop device: what `mount -o loop` needs.
const root = process.getuid?.() === 0 && existsSync('/dev/loop-control');

/** Text-like bytes (8 letters: compressible, as a disk's files mostly are), from a seed. */
function textBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let at = 0, n = 0; at < size; n++) {
    for (const b of createHash('sha256').update(`${seed}/${n}`).digest()) {
      if (at < size) out[at++] = 97 + (b & 7);
    }
  }
  return out;
}

/** A 64 MiB ext4 image holding ~7 MiB of files of mixed sizes, made by mke2fs -d. */
function makeImage(work: string): string {
  const staging = path.join(work, 'staging');
  const random = new SeededRandom('fixture');
  for (let d = 0; d < 6; d++) {
    mkdirSync(path.join(staging, `dir-${d}`), { recursive: true });
    for (let f = 0; f < 30; f++) {
      const size = 1 + random.int(f % 10 === 0 ? 512 * 1024 : 32 * 1024);
      writeFileSync(path.join(staging, `dir-${d}`, `file-${f}`), textBytes(`${d}/${f}`, size));
    }
  }
  const image = path.join(work, 'disk.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', staging, image, '64M']);
  return image;
}

/** sha256 of every file's path and bytes, read through debugfs's rdump (no mount). */
function contentDigest(image: string, work: string): string {
  const out = mkdtempSync(path.join(work, 'dump-'));
  execFileSync('debugfs', ['-R', `rdump / ${out}`, image], { stdio: 'ignore' });
  const listing = execFileSync(
    'bash',
    ['-c', `cd '${out}' && find . -type f | LC_ALL=C sort | xargs -d '\\n' sha256sum`],
    {
      encoding: 'utf8',
    },
  );
  rmSync(out, { recursive: true, force: true });
  return createHash('sha256').update(listing).digest('hex');
}

(root ? describe : describe.skip)('a day of change on a real ext4 image (loop mount, as root)', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'day-of-change-test-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes about its share of the used bytes, deletes some, and leaves a clean file system', () => {
    const image = makeImage(work);
    const day = applyDayOfChange(image, { seed: 's', day: 2, share: 0.05, work });
    const budget = day.usedBytesBefore * 0.05;
    expect(day.writtenBytes).toBeGreaterThan(budget * 0.9);
    expect(day.writtenBytes).toBeLessThan(budget * 1.15);
    expect(day.rewritten.files).toBeGreaterThan(0);
    expect(day.changedInPlace.files).toBeGreaterThan(0);
    expect(day.added.files).toBeGreaterThan(0);
    expect(day.deleted.files).toBeGreaterThan(0);
    // e2fsck -n exits 0 only when it finds nothing to fix.
    execFileSync('e2fsck', ['-fn', image], { stdio: 'ignore' });
  });

  it('makes the same changes from the same seed, and others from another', () => {
    const first = makeImage(work);
    const second = path.join(work, 'second.img');
    const third = path.join(work, 'third.img');
    copyFileSync(first, second);
    copyFileSync(first, third);
    const before = contentDigest(first, work);
    applyDayOfChange(first, { seed: 'same', day: 2, work });
    applyDayOfChange(second, { seed: 'same', day: 2, work });
    applyDayOfChange(third, { seed: 'other', day: 2, work });
    expect(contentDigest(first, work)).not.toBe(before);
    expect(contentDigest(second, work)).toBe(contentDigest(first, work));
    expect(contentDigest(third, work)).not.toBe(contentDigest(first, work));
  });
});

if (!root) {
  it('is skipped: the day of change loop-mounts an image, which needs root and /dev/loop-control', () => {
    expect(root).toBe(false);
  });
}
