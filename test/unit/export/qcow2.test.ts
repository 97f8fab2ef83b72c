// The streamed qcow2 file on small disks with known zero and non-zero clusters,
// checked by QEMU's own qemu-img: `check` (structure, refcounts, "copied" flags),
// `compare` against the raw disk (the guest sees the same bytes) and `map` (only
// the non-zero clusters are allocated).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClusterMap } from '../../../src/export/cluster-map.js';
import { DataPathError } from '../../../src/export/errors.js';
import { qcow2Layout } from '../../../src/export/qcow2-layout.js';
import {
  mapNonZeroClusters,
  qcow2Stream,
  readRanges,
  type RangeReader,
} from '../../../src/export/qcow2-stream.js';
import { qemuImg } from '../../harness/qemu-img.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CLUSTER = 64 * KiB;

let work: string;
beforeAll(() => (work = mkdtempSync(path.join(os.tmpdir(), 'qcow2-'))));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Chunks of an odd size, so that they start and end anywhere in a cluster. */
async function* chunksOf(bytes: Buffer, from = 0, to = bytes.length, step = 10_007): AsyncGenerator<Buffer> {
  for (let at = from; at < to; at += step) yield bytes.subarray(at, Math.min(to, at + step));
}

/** A disk with the given clusters filled (a pseudo-random pattern), zeros elsewhere. */
function diskWith(size: number, clusters: number[], clusterSize = CLUSTER): Buffer {
  const disk = Buffer.alloc(size);
  for (const c of clusters) {
    const start = c * clusterSize;
    const bytes = createHash('sha512').update(`cluster ${c}`).digest();
    for (let at = start; at < Math.min(size, start + clusterSize); at += bytes.length) bytes.copy(disk, at);
  }
  return disk;
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** Both passes over `disk`, as the data path runs them; returns the qcow2 file and what was read. */
async function toQcow2(disk: Buffer, options: { clusterBits?: number; mergeGapBytes?: number } = {}) {
  const map = await mapNonZeroClusters(chunksOf(disk), disk.length, { clusterBits: options.clusterBits });
  const layout = qcow2Layout(map);
  const reads: [number, number][] = [];
  const read: RangeReader = (start, end) => {
    reads.push([start, end]);
    return chunksOf(disk, start, end);
  };
  const file = await collect(qcow2Stream(layout, map, read, { mergeGapBytes: options.mergeGapBytes }));
  return { map, layout, file, reads };
}

function writeBoth(name: string, disk: Buffer, qcow2: Buffer) {
  const raw = path.join(work, `${name}.raw`);
  const image = path.join(work, `${name}.qcow2`);
  writeFileSync(raw, disk);
  writeFileSync(image, qcow2);
  return { raw, image };
}

function expectQemuAgrees(raw: string, image: string) {
  const check = qemuImg(['check', '-f', 'qcow2', image]);
  expect(check.stderr).toBe('');
  expect(check.stdout).toContain('No errors were found on the image.');
  expect(check.code).toBe(0);
  const compare = qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', raw, image]);
  expect(compare.stdout.trim()).toBe('Images are identical.');
  expect(compare.code).toBe(0);
}

/** Guest byte ranges qemu-img says hold data in the qcow2 file. */
function allocated(image: string): [number, number][] {
  const map = JSON.parse(qemuImg(['map', '--output=json', '-f', 'qcow2', image]).stdout) as {
    start: number;
    length: number;
    data: boolean;
  }[];
  return map.filter((m) => m.data).map((m) => [m.start, m.start + m.length]);
}

describe('qcow2 layout', () => {
  test('a 100 GiB disk: a 200 KiB map, one L1 cluster of 200 entries, tables only for what is used', () => {
    const map = new ClusterMap(100 * 1024 * MiB);
    expect(map.clusters).toBe(1_638_400);
    map.set(0);
    map.set(8192 * 3 + 5); // in the fourth 512 MiB range
    const layout = qcow2Layout(map);
    expect(layout).toMatchObject({
      clusterSize: CLUSTER,
      l1Size: 200,
      l1Clusters: 1,
      l2Tables: 2,
      refcountTableClusters: 1,
      refcountBlocks: 1,
      dataClusters: 2,
      // header, L1, 2 x L2, refcount table, refcount block, 2 data clusters
      clusters: 8,
      fileSize: 8 * CLUSTER,
    });
  });

  test('refcount blocks count themselves: a file just past one block needs a second', () => {
    // 32768 clusters per refcount block; header + L1 + L2s + table + block + data.
    const map = new ClusterMap(32_768 * CLUSTER);
    for (let c = 0; c < 32_760; c++) map.set(c);
    expect(qcow2Layout(map)).toMatchObject({ l2Tables: 4, refcountBlocks: 1, clusters: 32_768 });
    map.set(32_760);
    expect(qcow2Layout(map)).toMatchObject({ refcountBlocks: 2, clusters: 32_770 });
  });

  test('read ranges: runs of non-zero clusters, merged across small gaps', () => {
    const map = new ClusterMap(100 * CLUSTER + 1000);
    for (const c of [0, 1, 2, 5, 40, 41, 100]) map.set(c);
    const size = map.diskSize;
    expect([...readRanges(map, 0)]).toEqual([
      { start: 0, end: 3 * CLUSTER },
      { start: 5 * CLUSTER, end: 6 * CLUSTER },
      { start: 40 * CLUSTER, end: 42 * CLUSTER },
      { start: 100 * CLUSTER, end: size },
    ]);
    expect([...readRanges(map, 2 * CLUSTER)]).toEqual([
      { start: 0, end: 6 * CLUSTER },
      { start: 40 * CLUSTER, end: 42 * CLUSTER },
      { start: 100 * CLUSTER, end: size },
    ]);
    expect([...readRanges(map, 100 * CLUSTER)]).toEqual([{ start: 0, end: size }]);
  });
});

describe('qcow2 stream, read by qemu-img', () => {
  test('known clusters, a partial last cluster: check clean, compare identical, only those clusters allocated', async () => {
    // 47 clusters and 3 sectors; cluster 20 has one non-zero byte, cluster 47 is the partial last one.
    const size = 47 * CLUSTER + 3 * 512;
    const disk = diskWith(size, [0, 5, 6, 30, 47]);
    disk[20 * CLUSTER + 12_345] = 1;
    const { map, layout, file, reads } = await toQcow2(disk, { mergeGapBytes: 0 });
    expect([...map.runs()]).toEqual([
      { first: 0, end: 1 },
      { first: 5, end: 7 },
      { first: 20, end: 21 },
      { first: 30, end: 31 },
      { first: 47, end: 48 },
    ]);
    // Header, L1, one L2, refcount table and block, 6 data clusters: nothing else.
    expect(file.length).toBe(layout.fileSize);
    expect(layout.fileSize).toBe((5 + 6) * CLUSTER);
    expect(reads).toEqual([...readRanges(map, 0)].map((r) => [r.start, r.end]));
    expect(file.subarray(0, 4).toString('latin1')).toBe('QFI\xfb');

    const { raw, image } = writeBoth('known', disk, file);
    expect(statSync(image).size).toBe(layout.fileSize);
    expectQemuAgrees(raw, image);
    expect(allocated(image)).toEqual([
      [0, CLUSTER],
      [5 * CLUSTER, 7 * CLUSTER],
      [20 * CLUSTER, 21 * CLUSTER],
      [30 * CLUSTER, 31 * CLUSTER],
      [47 * CLUSTER, size],
    ]);
    const info = JSON.parse(qemuImg(['info', '--output=json', image]).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': size, 'cluster-size': CLUSTER });
    expect(info['format-specific']).toMatchObject({ data: { compat: '1.1', 'refcount-bits': 16 } });
  });

  test('the same file whether zero gaps are read through or skipped by Range', async () => {
    const disk = diskWith(64 * CLUSTER, [1, 2, 9, 10, 11, 60]);
    const skipped = await toQcow2(disk, { mergeGapBytes: 0 });
    const readThrough = await toQcow2(disk, { mergeGapBytes: 1024 * MiB });
    expect(skipped.reads).toHaveLength(3);
    expect(readThrough.reads).toEqual([[CLUSTER, 61 * CLUSTER]]);
    expect(readThrough.file.equals(skipped.file)).toBe(true);
  });

  test('an all-zero disk and a full one', async () => {
    const empty = Buffer.alloc(3 * MiB);
    const none = await toQcow2(empty);
    expect(none.layout).toMatchObject({ dataClusters: 0, l2Tables: 0, clusters: 4 });
    expect(none.reads).toEqual([]);
    expectQemuAgrees(...(Object.values(writeBoth('empty', empty, none.file)) as [string, string]));

    const full = diskWith(
      2 * MiB,
      Array.from({ length: 32 }, (_, c) => c),
    );
    const all = await toQcow2(full);
    expect(all.layout.dataClusters).toBe(32);
    expectQemuAgrees(...(Object.values(writeBoth('full', full, all.file)) as [string, string]));
  });

  test('a size that is no multiple of 512: the guest sees the disk padded to whole sectors, as QEMU reads a raw file', async () => {
    const disk = diskWith(5 * CLUSTER + 4321, [0, 5]);
    const { layout, file } = await toQcow2(disk);
    expect(layout.virtualSize).toBe(5 * CLUSTER + 4608);
    const { raw, image } = writeBoth('odd', disk, file);
    expectQemuAgrees(raw, image);
  });

  test('small clusters: many L2 tables, several refcount blocks and refcount table clusters', async () => {
    // 512-byte clusters: an L2 table maps 32 KiB, a refcount block counts 256
    // clusters, a refcount table cluster points at 64 blocks (16384 clusters).
    const clusterSize = 512;
    const clusters = 22 * 1024;
    const used = Array.from({ length: clusters }, (_, c) => c).filter(
      (c) => c % 7 !== 3 && (c < 5000 || c > 5400),
    );
    const disk = diskWith(clusters * clusterSize, used, clusterSize);
    const { layout, file } = await toQcow2(disk, { clusterBits: 9, mergeGapBytes: 2048 });
    expect(layout.l2Tables).toBeGreaterThan(200);
    expect(layout.refcountBlocks).toBeGreaterThan(64);
    expect(layout.refcountTableClusters).toBe(2);
    const { raw, image } = writeBoth('small-clusters', disk, file);
    expectQemuAgrees(raw, image);
  });

  test('a cluster that was zero on the first read and is not on the second: ExportChanged', async () => {
    const disk = diskWith(16 * CLUSTER, [0, 4]);
    const map = await mapNonZeroClusters(chunksOf(disk), disk.length);
    const layout = qcow2Layout(map);
    const changed = Buffer.from(disk);
    changed[2 * CLUSTER + 7] = 9;
    const stream = qcow2Stream(layout, map, (start, end) => chunksOf(changed, start, end), {
      mergeGapBytes: 1024 * MiB,
    });
    const error = await collect(stream).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(DataPathError);
    expect(error).toMatchObject({ reason: 'ExportChanged', retryable: true });
  });
});
