// `npm run bench -- --incremental [--disk real:1G] [--days 7] [--seed week] [--share 0.02]
// [--only read,full,chunked,kopia,restic] [--chunk-size 4M]` (also `npm run bench:incremental`): a week of
// nightly backups of one real ext4 disk (real-disk.ts) that changes a little every day
// (day-of-change.ts: about 2% of the used bytes rewritten, changed in place, added;
// some files deleted; on the loop-mounted image). Day 1 backs up the fresh disk; before
// each of days 2..N one day of change is made. Each day, on the same disk file:
//   full     ours today: pushDiskImage, raw + zstd, one containerDisk image a day, into
//            a registry of its own (the real Distribution), through the real
//            virt-exportserver
//   chunked  ours incremental: pushChunkedDisk into another registry, the three latest
//            days' tags as its dedup index (as the operator), through the same export server
//   kopia, restic   snapshot the folder holding the disk file into a local repository
//            (backup-peers.ts)
//   read     the floor of any backup through the export: curl of the export to /dev/null
// Our pushes run in child processes on compiled JavaScript with the operator image's Node
// flags (image-runtime.ts); every process is measured by GNU time (wall, CPU, peak RSS).
// Storage is `du` of each registry's storage folder and of each repository after each
// day. The yardstick for uploads is computed from the disk file (changed-chunks.ts).
// Needs root (the loop mount) and a Node with zstd in node:zlib (>= 22.15, as the
// operator's image has). On a shared machine the times are indicative: the load
// average is printed with them.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { chunkSizeFor } from '../../src/export/chunked/index.js';
import { parseByteQuantity } from '../harness/disks.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { duBytes, startKopia, startRestic, type BackupPeer, type BackupPeerName } from './backup-peers.js';
import { changedChunks, type ChangedChunks } from './changed-chunks.js';
import { compileChildren } from './compile-child.js';
import { applyDayOfChange, describeDay, type DayOfChange } from './day-of-change.js';
import { serveDiskFile } from './disk-export.js';
import { IMAGE_ENV, IMAGE_NODE_FLAGS } from './image-runtime.js';
import { measure, type Measured } from './measure.js';
import type { ChunkedPushChildInput } from './chunked-push-child.js';
import type { PushChildInput } from './push-child.js';
import { makeRealDisk } from './real-disk.js';
import { printIncrementalReport, type DayRow, type Run } from './incremental-report.js';

type Method = 'read' | 'full' | 'chunked' | BackupPeerName;
const METHODS: Method[] = ['read', 'full', 'chunked', 'kopia', 'restic'];

interface Args {
  size: number;
  days: number;
  seed: string;
  share: number;
  only: Set<Method>;
  /** Asked chunk size of the chunked push (its default when absent). */
  chunkSize?: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { size: 1024 ** 3, days: 7, seed: 'week', share: 0.02, only: new Set(METHODS) };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return v;
    };
    if (argv[i] === '--incremental') continue;
    else if (argv[i] === '--disk') {
      const [kind, size] = value().split(':');
      if (kind !== 'real' || !size) throw new Error('--disk: real:<size>, e.g. real:1G');
      // "1G" means GiB, as people say about disks.
      args.size = parseByteQuantity(size.replace(/^(\d+)([KMGT])$/, '$1$2i'));
    } else if (argv[i] === '--days') args.days = Math.max(2, Number(value()));
    else if (argv[i] === '--seed') args.seed = value();
    else if (argv[i] === '--share') args.share = Number(value());
    // `--chunk-size 1M`: the chunked push's chunk size, to choose it by measurement.
    else if (argv[i] === '--chunk-size')
      args.chunkSize = parseByteQuantity(value().replace(/^(\d+)([KMG])$/, '$1$2i'));
    else if (argv[i] === '--only') {
      const only = value().split(',') as Method[];
      const unknown = only.filter((m) => !METHODS.includes(m));
      if (unknown.length)
        throw new Error(`--only: unknown ${unknown.join(', ')} (known: ${METHODS.join(', ')})`);
      args.only = new Set(only);
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  return args;
}

/** Our two pushes' child output, the parts the bench reads. */
interface ChildResult {
  layerSize?: number;
  bytes?: { uploaded: number; reused: number };
  chunks?: { total: number; zero: number; uploaded: number; reused: number };
  chunkSize?: number;
  memoryAtPeak: Record<string, number>;
  io?: { writtenBytes: number };
}

const nodeFlags = [...IMAGE_NODE_FLAGS, ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)];

async function runChild(script: string, input: object): Promise<{ m: Measured; result: ChildResult }> {
  const m = await measure(process.execPath, [...nodeFlags, script, JSON.stringify(input)], {
    ...process.env,
    ...IMAGE_ENV,
  });
  return { m, result: JSON.parse(m.stdout.trim().split('\n').at(-1)!) as ChildResult };
}

function run(m: Measured, extra: Partial<Run> = {}): Run {
  return { wallMs: m.wallMs, cpuSeconds: m.cpuSeconds, maxRssBytes: m.maxRssBytes, ...extra };
}

export async function runIncrementalBench(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (typeof zlib.zstdCompress !== 'function')
    throw new Error(
      `this Node (${process.version}) has no zstd in node:zlib; the chunked format and our zstd image need Node >= 22.15 (the operator's image runs Node 24)`,
    );
  const work = mkdtempSync(path.join(os.tmpdir(), 'serverimage-bench-week-'));
  const registries: TestRegistry[] = [];
  const loadAtStart = os.loadavg();
  const rows: DayRow[] = [];
  try {
    const children = compileChildren();
    const full = await startRegistry({ proxy: false });
    registries.push(full);
    const chunked = await startRegistry({ proxy: false });
    registries.push(chunked);
    const peers: BackupPeer[] = [];
    if (args.only.has('kopia')) peers.push(await startKopia(work));
    if (args.only.has('restic')) peers.push(await startRestic(work));

    // The disk file alone in its folder: the peers snapshot that folder.
    const diskDir = path.join(work, 'disk');
    mkdirSync(diskDir);
    const file = path.join(diskDir, 'disk.img');
    console.error(`bench: making a ${args.size / 1024 ** 3} GiB ext4 disk with mke2fs -d`);
    const real = makeRealDisk(file, args.size, { work });
    const describe = `ext4 ${(args.size / 1024 ** 3).toFixed(2)} GiB, ${(real.filesBytes / 1024 ** 2).toFixed(0)} MiB of files from ${real.sources.join(' ')}`;
    const chunkSize = chunkSizeFor(args.size, args.chunkSize);
    const seen = new Set<string>();
    const tags: string[] = [];

    for (let day = 1; day <= args.days; day++) {
      let change: DayOfChange | undefined;
      if (day > 1) {
        change = applyDayOfChange(file, { seed: args.seed, day, share: args.share, work });
        console.error(`bench: day ${day}: ${describeDay(change)}`);
      }
      const yardstick: ChangedChunks = await changedChunks(file, chunkSize, seen);
      // Flush what the change and the reading left dirty before anything is timed.
      execFileSync('sync');
      const row: DayRow = { day, change, changed: yardstick, runs: {}, storage: {} };
      const tag = `day-${day}`;

      const server = await serveDiskFile(file);
      try {
        const source = { url: server.directUrl, caPem: server.caPem, token: server.token };
        if (args.only.has('read')) {
          const caFile = path.join(work, 'export-ca.pem');
          writeFileSync(caFile, server.caPem);
          const curl = [
            '-sS',
            '--fail',
            '--cacert',
            caFile,
            '-H',
            `x-kubevirt-export-token: ${server.token}`,
          ];
          row.runs.read = run(await measure('curl', [...curl, '-o', '/dev/null', server.directUrl]));
        }
        if (args.only.has('full')) {
          console.error(`bench: day ${day}: full zstd push`);
          const input: PushChildInput = {
            ...source,
            repository: `${full.host}/bench/week`,
            tag,
            compression: 'zstd',
            diskFormat: 'raw',
          };
          const { m, result } = await runChild(path.join(children, 'push-child.js'), input);
          row.runs.full = run(m, {
            uploadedBytes: result.layerSize,
            writtenBytes: result.io?.writtenBytes,
            memoryAtPeak: result.memoryAtPeak,
          });
          row.storage.full = duBytes(full.rootDir);
        }
        if (args.only.has('chunked')) {
          console.error(`bench: day ${day}: chunked push`);
          const input: ChunkedPushChildInput = {
            ...source,
            repository: `${chunked.host}/bench/week`,
            tag,
            // As the operator does: up to three earlier backups, newest first.
            previous: tags.slice(-3).reverse(),
            chunkSize,
          };
          const { m, result } = await runChild(path.join(children, 'chunked-push-child.js'), input);
          row.runs.chunked = run(m, {
            uploadedBytes: result.bytes?.uploaded,
            writtenBytes: result.io?.writtenBytes,
            memoryAtPeak: result.memoryAtPeak,
            chunks: result.chunks,
          });
          row.storage.chunked = duBytes(chunked.rootDir);
        }
      } finally {
        await server.stop();
      }
      tags.push(tag);

      for (const peer of peers) {
        console.error(`bench: day ${day}: ${peer.name} snapshot`);
        execFileSync('sync');
        row.runs[peer.name] = run(await peer.snapshot(diskDir));
        row.storage[peer.name] = peer.repositoryBytes();
      }
      rows.push(row);
    }
    printIncrementalReport({
      rows,
      disk: describe,
      diskSize: args.size,
      chunkSize,
      seed: args.seed,
      share: args.share,
      loadAtStart,
      peerTitles: Object.fromEntries(peers.map((p) => [p.name, p.title])),
    });
  } finally {
    for (const r of registries) await r.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

// Run directly (`npm run bench:incremental`), or from datapath.bench.ts with --incremental.
if (process.argv[1]?.endsWith('incremental.bench.ts')) {
  await runIncrementalBench(process.argv.slice(2));
}
