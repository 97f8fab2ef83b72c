import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tar from 'tar-stream';
import { diskLayerTar } from '../../../src/export/disk-layer.js';

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('diskLayerTar', () => {
  const disk = randomBytes(3 * 1024 * 1024 + 17);
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(tmpdir(), 'disk-layer-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds exactly disk/ (0555) and disk/disk.img (0444), owned by 107:107, as GNU tar reads it', async () => {
    const tarFile = path.join(dir, 'layer.tar');
    writeFileSync(tarFile, await collect(diskLayerTar(chunked(disk, 65536), { size: disk.length })));

    const listing = execFileSync('tar', ['-tvf', tarFile, '--numeric-owner'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((line) => line.split(/\s+/));
    expect(listing.map((f) => [f[0], f[1], f.at(-1)])).toEqual([
      ['dr-xr-xr-x', '107/107', 'disk/'],
      ['-r--r--r--', '107/107', 'disk/disk.img'],
    ]);
    expect(Number(listing[1]![2])).toBe(disk.length);

    const extracted = execFileSync('tar', ['-xOf', tarFile, 'disk/disk.img'], {
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(createHash('sha256').update(extracted).digest('hex')).toBe(
      createHash('sha256').update(disk).digest('hex'),
    );
  });

  it('is the same bytes for the same disk and mtime', async () => {
    const mtime = new Date('2026-01-02T03:04:05Z');
    const a = await collect(diskLayerTar(chunked(disk, 4096), { size: disk.length, mtime }));
    const b = await collect(diskLayerTar(chunked(disk, 1 << 20), { size: disk.length, mtime }));
    expect(a.equals(b)).toBe(true);
  });

  it('is byte for byte the archive tar-stream makes of the whole disk', async () => {
    const mtime = new Date('2026-01-02T03:04:05Z');
    const owner = { uid: 107, gid: 107 };
    const pack = tar.pack();
    pack.entry({ name: 'disk/', type: 'directory', mode: 0o555, mtime, ...owner });
    pack.entry({ name: 'disk/disk.img', type: 'file', mode: 0o444, mtime, ...owner }, disk);
    pack.finalize();
    const reference = await collect(pack as unknown as AsyncIterable<Buffer>);
    expect(
      (await collect(diskLayerTar(chunked(disk, 65536), { size: disk.length, mtime }))).equals(reference),
    ).toBe(true);
  });

  it('fails when the disk is longer than its declared size', async () => {
    await expect(collect(diskLayerTar(chunked(disk, 65536), { size: disk.length - 1 }))).rejects.toThrow(
      /size mismatch/i,
    );
  });

  it('fails when the disk is shorter than its declared size', async () => {
    await expect(collect(diskLayerTar(chunked(disk, 65536), { size: disk.length + 1 }))).rejects.toThrow(
      /size mismatch/i,
    );
  });

  it('passes a failure of the disk stream on to the reader', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1024);
      throw new Error('export went away');
    }
    await expect(collect(diskLayerTar(failing(), { size: 4096 }))).rejects.toThrow('export went away');
  });
});
