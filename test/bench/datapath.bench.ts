// `npm run bench [-- --sizes 256M,1G] [--compression zstd]`: the data path against what a user
// does today, all in one run on the same disk, same export server (the real virt-exportserver,
// read directly, not through the test bed's fault proxy), same registry:
//   limit     read the raw export to /dev/null (curl)
//   baseline  download the export to a file (curl), tar it as disk/disk.img, `crane append` + push
//   ours      pushDiskImage (export -> tar -> parallel gzip -> registry, one pass) in a child process
// Each disk is 1/4 random, 1/4 text-like, 1/2 zeros (test/harness/disks.ts).
// Peak RSS is the kernel's maxrss of the process doing the work (GNU time %M):
// crane for the baseline's push, the Node process for ours. Written is what the
// work wrote to storage (%O, 512-byte blocks) and, for the baseline, the scratch
// files' size at their peak (du).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseByteQuantity, writeDisk } from '../harness/disks.js';
import { startRegistry } from '../harness/registry.js';
import { toolPath } from '../harness/tools.js';
import { serveDiskFile } from './disk-export.js';
import { measure, type Measured } from './measure.js';
import type { PushChildInput } from './push-child.js';

interface Row {
  size: number;
  method: string;
  wallMs: number;
  maxRssBytes: number;
  scratchBytes: number;
  writtenBytes: number;
  cpuSeconds: number;
  note?: string;
}

const MiB = 1024 * 1024;
const here = path.dirname(fileURLToPath(import.meta.url));
/**
 * Node flags of the `ours` child: the ones the operator's image runs with (Dockerfile
 * ENTRYPOINT: a 1 MiB young generation keeps the heap, and so RSS, flat over long
 * pushes), plus BENCH_NODE_FLAGS, e.g. --cpu-prof to profile it.
 */
const nodeFlags = [
  '--max-semi-space-size=1',
  ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
];

type Method = 'limit' | 'baseline' | 'ours';

function parseArgs(argv: string[]): { sizes: number[]; compression: 'gzip' | 'zstd'; only: Set<Method> } {
  let sizes = ['2Gi', '8Gi'];
  let compression: 'gzip' | 'zstd' = 'gzip';
  let only = new Set<Method>(['limit', 'baseline', 'ours']);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--sizes') sizes = argv[++i]!.split(',');
    else if (argv[i] === '--compression') compression = argv[++i] as 'gzip' | 'zstd';
    // `--only ours` while tuning: the other rows do not change.
    else if (argv[i] === '--only') only = new Set(argv[++i]!.split(',') as Method[]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  // "256M" and "2G" mean MiB and GiB here, as people say about disks.
  return {
    sizes: sizes.map((s) => parseByteQuantity(s.replace(/^(\d+)([KMGT])$/, '$1$2i'))),
    compression,
    only,
  };
}

const human = (bytes: number) =>
  bytes >= 1024 * MiB
    ? `${(bytes / 1024 / MiB).toFixed(bytes % (1024 * MiB) ? 1 : 0)} GiB`
    : `${Math.round(bytes / MiB)} MiB`;

/**
 * Flushes dirty pages (the disk just written, the baseline's scratch files)
 * before the next measurement, so that no method pays for the kernel writing
 * back what an earlier step left: without it, `ours` right after the baseline
 * ran up to 1 s slower, and its CPU time swung by as much.
 */
function settle(): void {
  execFileSync('sync');
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) * 1024;
}

/**
 * The `ours` child runs compiled JavaScript on plain Node, as the operator would
 * ship, so its RSS is not tsx's. Compiled into node_modules/.cache so that
 * imports of dependencies resolve.
 */
function compileChild(): string {
  const config = path.join(here, 'tsconfig.child.json');
  const outDir = path.join(here, '..', '..', 'node_modules', '.cache', 'serverimage-bench');
  execFileSync(process.execPath, [
    path.join(here, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    config,
  ]);
  writeFileSync(path.join(outDir, 'package.json'), '{"type":"module"}\n');
  return path.join(outDir, 'test', 'bench', 'push-child.js');
}

async function main() {
  const { sizes, compression, only } = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(path.join(os.tmpdir(), 'serverimage-bench-'));
  const registry = await startRegistry({ proxy: false });
  const crane = toolPath('crane');
  const child = compileChild();
  const rows: Row[] = [];
  const loadAtStart = os.loadavg();
  console.error(`bench: work dir ${work}, registry ${registry.host}, ${os.cpus().length} CPUs`);
  try {
    for (const size of sizes) {
      const label = human(size).replace(' ', '');
      console.error(`bench: making a ${label} disk`);
      const disk = await writeDisk(path.join(work, `source-${label}.img`), { size, seed: `bench-${size}` });
      const server = await serveDiskFile(disk.path);
      const caFile = path.join(work, 'export-ca.pem');
      writeFileSync(caFile, server.caPem);
      const curl = (output: string) => [
        '-sS',
        '--fail',
        '--cacert',
        caFile,
        '-H',
        `x-kubevirt-export-token: ${server.token}`,
        '-o',
        output,
        server.directUrl,
      ];
      const written = (m: Measured) => m.fsOutputBlocks * 512;
      try {
        if (only.has('limit')) {
          settle();
          console.error(`bench: ${label} limit`);
          const limit = await measure('curl', curl('/dev/null'));
          rows.push({
            size,
            method: 'limit: curl export > /dev/null',
            ...limit,
            scratchBytes: 0,
            writtenBytes: written(limit),
          });
        }

        if (only.has('baseline')) {
          settle();
          console.error(`bench: ${label} baseline`);
          const scratch = path.join(work, `scratch-${label}`);
          mkdirSync(path.join(scratch, 'disk'), { recursive: true });
          const download = await measure('curl', curl(path.join(scratch, 'disk', 'disk.img')));
          chmodSync(path.join(scratch, 'disk', 'disk.img'), 0o444);
          chmodSync(path.join(scratch, 'disk'), 0o555);
          const layerTar = path.join(scratch, 'layer.tar');
          const tar = await measure('tar', [
            '--owner=107',
            '--group=107',
            '--numeric-owner',
            '-C',
            scratch,
            '-cf',
            layerTar,
            'disk',
          ]);
          const scratchPeak = duBytes(scratch);
          const ref = `${registry.host}/bench/baseline:${label}`;
          const push = await measure(crane, [
            'append',
            '--insecure',
            '--oci-empty-base',
            '-f',
            layerTar,
            '-t',
            ref,
          ]);
          chmodSync(path.join(scratch, 'disk'), 0o755);
          rmSync(scratch, { recursive: true, force: true });
          rows.push({
            size,
            method: 'baseline: curl > file, tar, crane append',
            wallMs: download.wallMs + tar.wallMs + push.wallMs,
            cpuSeconds: download.cpuSeconds + tar.cpuSeconds + push.cpuSeconds,
            maxRssBytes: push.maxRssBytes,
            scratchBytes: scratchPeak,
            writtenBytes: written(download) + written(tar) + written(push),
            note: `download ${(download.wallMs / 1000).toFixed(1)} s, tar ${(tar.wallMs / 1000).toFixed(1)} s, crane ${(push.wallMs / 1000).toFixed(1)} s`,
          });
        }

        if (!only.has('ours')) continue;
        settle();
        console.error(`bench: ${label} ours (${compression})`);
        const input: PushChildInput = {
          url: server.directUrl,
          caPem: server.caPem,
          token: server.token,
          repository: `${registry.host}/bench/ours`,
          tag: `${label}-${compression}`,
          compression,
        };
        const ours = await measure(process.execPath, [...nodeFlags, child, JSON.stringify(input)]);
        const result = JSON.parse(ours.stdout.trim().split('\n').at(-1)!) as {
          layerSize: number;
          memoryAtPeak: Record<string, number>;
        };
        console.error(
          `bench: ${label} ours: memory at peak RSS (MiB) ${JSON.stringify(result.memoryAtPeak)}`,
        );
        rows.push({
          size,
          method: `ours: pushDiskImage (${compression})`,
          ...ours,
          scratchBytes: 0,
          writtenBytes: written(ours),
          note: `layer ${human(result.layerSize)}`,
        });
      } finally {
        await server.stop();
        rmSync(disk.path, { force: true });
      }
    }
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
  printTable(rows, loadAtStart);
}

function printTable(rows: Row[], loadAtStart: number[]) {
  const header = [
    'disk',
    'method',
    'wall',
    'MiB/s',
    'vs baseline',
    'CPU (user+sys)',
    'peak RSS',
    'scratch disk',
    'written',
    'notes',
  ];
  const lines = rows.map((row) => {
    const baseline = rows.find((r) => r.size === row.size && r.method.startsWith('baseline'));
    return [
      human(row.size),
      row.method,
      `${(row.wallMs / 1000).toFixed(1)} s`,
      (row.size / MiB / (row.wallMs / 1000)).toFixed(0),
      baseline ? `${(row.wallMs / baseline.wallMs).toFixed(2)}x` : '',
      `${row.cpuSeconds.toFixed(1)} s`,
      `${Math.round(row.maxRssBytes / MiB)} MiB`,
      human(row.scratchBytes),
      human(row.writtenBytes),
      row.note ?? '',
    ];
  });
  const out = [header, header.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`);
  console.log(
    `\nmachine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 1024 / MiB)} GiB RAM, node ${process.version}; ` +
      `load average (1/5/15 min) at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  console.log(out.join('\n'));
}

await main();
