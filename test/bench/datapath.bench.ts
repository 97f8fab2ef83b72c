// `npm run bench [-- --disks real:4G,real:16G,synthetic:2G] [--only read,crane,ours-gzip,...] [--repeat 3]`
// (`npm run bench -- --incremental ...`: the week of incremental backups, incremental.bench.ts):
// the data path against the limits and what a user does instead, all in one run on
// the same disk, the same export server and the same registry (test/bench/peers.ts):
//   limits   read the export to /dev/null; | pigz -1 -p N; | zstd -1 -T N (N = cores)
//   peers    curl > file, tar, crane append (today's user, the baseline);
//            curl > file, tar | pigz, crane append; curl > file, qemu-img convert
//            -O qcow2, tar, crane append (KubeVirt's disk-uploader way)
//   ours     pushDiskImage with gzip, zstd, qcow2 + gzip, qcow2 + zstd, each in a child
//            process running compiled JavaScript with the operator image's Node flags;
//            zstd again as a transfer Pod runs it: the operator's image, its transfer
//            command and 512 MiB limit, under the container engine (transfer-container.ts)
// Disks: `real` is ext4 made at bench time by `mke2fs -d` from real directories of this
// machine, 65% full (real-disk.ts), the headline; `synthetic` is the test bed's disk
// (1/4 random, 1/4 text-like, 1/2 zeros; test/harness/disks.ts), on which the encoder was
// tuned. The export server is the real virt-exportserver (KubeVirt v1.8.4), read
// directly, not through the test bed's fault proxy. Peak RSS is GNU time's (%M, the largest
// process). Tools that are missing (pigz, zstd, qemu-img, mke2fs) are named, and their
// rows left out. On a shared machine the numbers are indicative only: the load average
// is printed with them.
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseByteQuantity, writeDisk } from '../harness/disks.js';
import { qemuImgPath } from '../harness/qemu-img.js';
import { startRegistry } from '../harness/registry.js';
import { toolPath } from '../harness/tools.js';
import { compileChildren } from './compile-child.js';
import { serveDiskFile } from './disk-export.js';
import { measure } from './measure.js';
import { PEER_TITLES, runPeer, type PeerMethod } from './peers.js';
import { IMAGE_ENV, IMAGE_NODE_FLAGS } from './image-runtime.js';
import type { PushChildInput } from './push-child.js';
import { makeRealDisk } from './real-disk.js';
import { pushInTransferContainer } from './transfer-container.js';

interface Row {
  disk: string;
  size: number;
  method: Method;
  title: string;
  wallMs: number;
  maxRssBytes: number;
  scratchBytes: number;
  cpuSeconds: number;
  layerBytes?: number;
  note?: string;
}

type OursMethod = 'ours-gzip' | 'ours-zstd' | 'ours-qcow2-gzip' | 'ours-qcow2-zstd';
/** ours-zstd as a transfer Pod runs it: the operator's image under the container engine (transfer-container.ts). */
type ContainerMethod = 'ours-zstd-container';
type Method = PeerMethod | OursMethod | ContainerMethod;

const PEERS: PeerMethod[] = ['read', 'pigz', 'zstd', 'zstd3', 'crane', 'pigz-crane', 'qemu-crane'];
const OURS: Record<OursMethod, Pick<PushChildInput, 'compression' | 'diskFormat'>> = {
  'ours-gzip': { compression: 'gzip', diskFormat: 'raw' },
  'ours-zstd': { compression: 'zstd', diskFormat: 'raw' },
  'ours-qcow2-gzip': { compression: 'gzip', diskFormat: 'qcow2' },
  'ours-qcow2-zstd': { compression: 'zstd', diskFormat: 'qcow2' },
};
/** Tools a method needs besides curl, tar and crane. */
const NEEDS: Partial<Record<Method, string[]>> = {
  pigz: ['pigz'],
  zstd: ['zstd'],
  zstd3: ['zstd'],
  'pigz-crane': ['pigz'],
  'qemu-crane': ['qemu-img'],
};

const MiB = 1024 * 1024;
/**
 * Node flags of the `ours` child: the ones the operator's image runs with
 * (image-runtime.ts), plus BENCH_NODE_FLAGS, e.g. --cpu-prof to profile it.
 */
const nodeFlags = [...IMAGE_NODE_FLAGS, ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)];

interface DiskChoice {
  kind: 'real' | 'synthetic';
  size: number;
}

function parseArgs(argv: string[]): { disks: DiskChoice[]; only: Set<Method>; repeat: number } {
  let disks = ['real:4G'];
  let repeat = 1;
  let only = new Set<Method>([...PEERS, ...(Object.keys(OURS) as OursMethod[]), 'ours-zstd-container']);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--disks') disks = argv[++i]!.split(',');
    // `--only ours-gzip,ours-zstd` while tuning: the other rows do not change.
    else if (argv[i] === '--only') only = new Set(argv[++i]!.split(',') as Method[]);
    // `--repeat 3`: each row is the run of median wall time; the notes give the range.
    else if (argv[i] === '--repeat') repeat = Math.max(1, Number(argv[++i]));
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return {
    disks: disks.map((d) => {
      const [kind, size] = d.split(':') as [string, string];
      if (kind !== 'real' && kind !== 'synthetic')
        throw new Error(`--disks: ${d}: real:<size> or synthetic:<size>`);
      // "4G" means GiB here, as people say about disks.
      return { kind, size: parseByteQuantity(size.replace(/^(\d+)([KMGT])$/, '$1$2i')) };
    }),
    only,
    repeat,
  };
}

/** Runs `once` `times` times; the run of median wall time, with the range of walls in its note. */
async function medianOf<T extends { wallMs: number; note?: string }>(
  times: number,
  once: () => Promise<T>,
): Promise<T & { note?: string }> {
  const runs: T[] = [];
  for (let i = 0; i < times; i++) runs.push(await once());
  if (times === 1) return runs[0]!;
  runs.sort((a, b) => a.wallMs - b.wallMs);
  const median = runs[Math.floor((times - 1) / 2)]!;
  const range = `median of ${times} (${runs.map((r) => (r.wallMs / 1000).toFixed(1)).join(', ')} s)`;
  return { ...median, note: median.note ? `${range}; ${median.note}` : range };
}

const human = (bytes: number) =>
  bytes >= 1024 * MiB
    ? `${(bytes / 1024 / MiB).toFixed(bytes % (1024 * MiB) ? 2 : 0)} GiB`
    : `${Math.round(bytes / MiB)} MiB`;

/** The tools found, and a line for each one that is not. */
function findTools(): { found: Map<string, string>; missing: string[] } {
  const found = new Map<string, string>();
  const missing: string[] = [];
  for (const tool of ['pigz', 'zstd', 'mke2fs']) {
    try {
      found.set(tool, execFileSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim());
    } catch {
      missing.push(
        `${tool} not found (apt-get install ${tool === 'mke2fs' ? 'e2fsprogs' : tool}): its rows are left out`,
      );
    }
  }
  try {
    found.set('qemu-img', qemuImgPath());
  } catch (err) {
    missing.push(`${(err as Error).message}: its rows are left out`);
  }
  return { found, missing };
}

/**
 * Flushes dirty pages (the disk just written, a peer's scratch files) before the
 * next measurement, so that no method pays for the kernel writing back what an
 * earlier step left.
 */
function settle(): void {
  execFileSync('sync');
}

async function main() {
  const { disks, only, repeat } = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(path.join(os.tmpdir(), 'serverimage-bench-'));
  const registry = await startRegistry({ proxy: false });
  const crane = toolPath('crane');
  const child = path.join(compileChildren(), 'push-child.js');
  const tools = findTools();
  for (const line of tools.missing) console.error(`bench: ${line}`);
  const rows: Row[] = [];
  const loadAtStart = os.loadavg();
  console.error(`bench: work dir ${work}, registry ${registry.host}, ${os.availableParallelism()} CPUs`);
  try {
    for (const choice of disks) {
      const label = `${choice.kind}-${human(choice.size).replace(' ', '')}`;
      const file = path.join(work, `${label}.img`);
      let describe: string;
      if (choice.kind === 'real') {
        if (!tools.found.has('mke2fs')) continue;
        console.error(`bench: making ${label} with mke2fs -d`);
        const real = makeRealDisk(file, choice.size, { work });
        describe = `ext4 ${human(choice.size)}, ${human(real.filesBytes)} of files from ${real.sources.join(' ')}`;
      } else {
        console.error(`bench: making ${label}`);
        await writeDisk(file, { size: choice.size, seed: `bench-${choice.size}` });
        describe = `synthetic ${human(choice.size)}: 1/4 random, 1/4 text-like, 1/2 zeros`;
      }
      console.error(`bench: ${label}: ${describe}`);
      const server = await serveDiskFile(file);
      const caFile = path.join(work, 'export-ca.pem');
      writeFileSync(caFile, server.caPem);
      const curl = (output: string) => [
        '-sS',
        '--fail',
        '--cacert',
        caFile,
        '-H',
        `x-kubevirt-export-token: ${server.token}`,
        ...(output === '-' ? [] : ['-o', output]),
        server.directUrl,
      ];
      try {
        for (const method of PEERS) {
          if (!only.has(method)) continue;
          if ((NEEDS[method] ?? []).some((t) => !tools.found.has(t))) continue;
          console.error(`bench: ${label} ${method}`);
          const result = await medianOf(repeat, () => {
            settle();
            return runPeer(method, {
              curl,
              crane,
              registryHost: registry.host,
              work,
              label,
              qemuImg: tools.found.get('qemu-img'),
            });
          });
          rows.push({ disk: describe, size: choice.size, method, title: PEER_TITLES[method], ...result });
        }
        for (const [method, format] of Object.entries(OURS) as [OursMethod, (typeof OURS)[OursMethod]][]) {
          if (!only.has(method)) continue;
          console.error(`bench: ${label} ${method}`);
          const input: PushChildInput = {
            url: server.directUrl,
            caPem: server.caPem,
            token: server.token,
            repository: `${registry.host}/bench/ours`,
            tag: `${label}-${method}`,
            ...format,
          };
          const ours = await medianOf(repeat, () => {
            settle();
            return measure(process.execPath, [...nodeFlags, child, JSON.stringify(input)], {
              ...process.env,
              ...IMAGE_ENV,
            });
          });
          const result = JSON.parse(ours.stdout.trim().split('\n').at(-1)!) as {
            layerSize: number;
            fileSize: number;
            memoryAtPeak: Record<string, number>;
          };
          const memory = Object.entries(result.memoryAtPeak)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ');
          rows.push({
            disk: describe,
            size: choice.size,
            method,
            title: `ours: ${format.diskFormat === 'qcow2' ? 'qcow2 + ' : ''}${format.compression}`,
            ...ours,
            scratchBytes: 0,
            layerBytes: result.layerSize,
            note: [
              ours.note,
              format.diskFormat === 'qcow2' ? `qcow2 file ${human(result.fileSize)}` : undefined,
              `MiB at peak RSS: ${memory}`,
            ]
              .filter(Boolean)
              .join('; '),
          });
        }
        if (only.has('ours-zstd-container')) {
          console.error(`bench: ${label} ours-zstd-container`);
          const ours = await medianOf(repeat, () => {
            settle();
            return pushInTransferContainer({
              url: server.directUrl,
              caPem: server.caPem,
              token: server.token,
              repository: `${registry.host}/bench/ours`,
              tag: `${label}-ours-zstd-container`,
              work,
            });
          });
          rows.push({
            disk: describe,
            size: choice.size,
            method: 'ours-zstd-container',
            title: 'ours: zstd, transfer container',
            ...ours,
            scratchBytes: 0,
          });
        }
      } finally {
        await server.stop();
        rmSync(file, { force: true });
      }
    }
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
  printTable(rows, loadAtStart);
  printTargets(rows);
}

function printTable(rows: Row[], loadAtStart: number[]) {
  const header = [
    'disk',
    'method',
    'wall',
    'MiB/s',
    'vs baseline',
    'CPU',
    'peak RSS',
    'scratch disk',
    'layer',
    'notes',
  ];
  const lines = rows.map((row) => {
    const baseline = rows.find((r) => r.disk === row.disk && r.method === 'crane');
    return [
      human(row.size),
      row.title,
      `${(row.wallMs / 1000).toFixed(1)} s`,
      (row.size / MiB / (row.wallMs / 1000)).toFixed(0),
      baseline ? `${(row.wallMs / baseline.wallMs).toFixed(2)}x` : '',
      `${row.cpuSeconds.toFixed(1)} s`,
      `${Math.round(row.maxRssBytes / MiB)} MiB`,
      human(row.scratchBytes),
      row.layerBytes ? `${(row.layerBytes / 1e9).toFixed(2)} GB` : '',
      row.note ?? '',
    ];
  });
  // A pipe in a method's name (`curl | zstd`) would split the Markdown row.
  const out = [header, header.map(() => '---'), ...lines].map(
    (cells) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`,
  );
  console.log(
    `\nmachine: ${os.availableParallelism()} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 1024 / MiB)} GiB RAM, node ${process.version}; ` +
      `load average (1/5/15 min) at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  for (const disk of new Set(rows.map((r) => r.disk))) console.log(`disk: ${disk}`);
  console.log(out.join('\n'));
}

/** The targets, as ratios of this run's rows (same disk, same run). */
function printTargets(rows: Row[]) {
  for (const disk of new Set(rows.map((r) => r.disk))) {
    const of = (m: Method) => rows.find((r) => r.disk === disk && r.method === m);
    const ratio = (a: Method, b: Method, target: number, what: string) => {
      const x = of(a);
      const y = of(b);
      if (!x || !y) return;
      const r = x.wallMs / y.wallMs;
      console.log(`target ${what}: ${r.toFixed(2)}x (at most ${target}x) ${r <= target ? 'met' : 'MISSED'}`);
    };
    console.log(`\ntargets on ${disk}:`);
    ratio('ours-zstd', 'zstd', 1.1, 'zstd vs curl | zstd -1 -T N');
    ratio('ours-zstd-container', 'ours-zstd', 1.1, 'zstd in the transfer container vs in a process');
    // Not the target: the same work (ours is level 3), for the note on it.
    ratio('ours-zstd', 'zstd3', 1.1, 'zstd vs curl | zstd -3 -T N (same level)');
    ratio('ours-gzip', 'crane', 0.3, 'gzip vs crane append');
    ratio('ours-gzip', 'pigz-crane', 0.45, 'gzip vs pigz + crane');
    ratio('ours-qcow2-gzip', 'ours-gzip', 1.35, 'qcow2+gzip vs raw gzip');
    ratio('ours-qcow2-zstd', 'ours-zstd', 1.35, 'qcow2+zstd vs raw zstd');
    for (const [q, r] of [
      ['ours-qcow2-gzip', 'ours-gzip'],
      ['ours-qcow2-zstd', 'ours-zstd'],
    ] as const) {
      const a = of(q)?.layerBytes;
      const b = of(r)?.layerBytes;
      if (a && b) console.log(`layer ${q} ${a} vs ${r} ${b}: ${a <= b ? 'no larger' : 'LARGER'}`);
    }
    for (const row of rows.filter((r) => r.disk === disk && r.method.startsWith('ours'))) {
      const mib = Math.round(row.maxRssBytes / MiB);
      console.log(`peak RSS ${row.method}: ${mib} MiB (at most 150) ${mib <= 150 ? 'met' : 'MISSED'}`);
    }
  }
}

// `--incremental`: the week of nightly backups (incremental.bench.ts) instead.
if (process.argv.includes('--incremental')) {
  const { runIncrementalBench } = await import('./incremental.bench.js');
  await runIncrementalBench(process.argv.slice(2));
} else {
  await main();
}
