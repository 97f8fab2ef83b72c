// The incremental bench's tables: each day's backups, the storage after each day, and the
// issue's figures as ratios of this run's numbers (same disk, same days, same machine).
import os from 'node:os';
import type { ChangedChunks } from './changed-chunks.js';
import type { DayOfChange } from './day-of-change.js';

export interface Run {
  wallMs: number;
  cpuSeconds: number;
  maxRssBytes: number;
  /** The push's own count of the compressed bytes it sent (layer or chunks). */
  uploadedBytes?: number;
  /** All the push process wrote through system calls (/proc/self/io wchar): uploads, headers, HEADs, manifests. */
  writtenBytes?: number;
  memoryAtPeak?: Record<string, number>;
  chunks?: { total: number; zero: number; uploaded: number; reused: number };
}

export type Method = 'read' | 'full' | 'chunked' | 'kopia' | 'restic';

export interface DayRow {
  day: number;
  /** Absent on day 1 (the fresh disk). */
  change?: DayOfChange;
  changed: ChangedChunks;
  runs: Partial<Record<Method, Run>>;
  /** du after this day's backup: each registry's storage folder, each repository. */
  storage: Partial<Record<Method, number>>;
}

export interface IncrementalReport {
  rows: DayRow[];
  disk: string;
  diskSize: number;
  chunkSize: number;
  seed: string;
  share: number;
  loadAtStart: number[];
  peerTitles: Partial<Record<Method, string>>;
}

const MiB = 1024 * 1024;
const mib = (n: number | undefined) => (n === undefined ? '' : `${(n / MiB).toFixed(1)} MiB`);
/** Wall time, and CPU time in brackets: steadier than wall time on a busy machine. */
const secs = (r: Run | undefined) =>
  r ? `${(r.wallMs / 1000).toFixed(1)} s (${r.cpuSeconds.toFixed(1)} s CPU)` : 'n/a';
const rss = (r: Run | undefined) => (r ? `${Math.round(r.maxRssBytes / MiB)} MiB` : 'n/a');
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function table(header: string[], lines: string[][]): string {
  return [header, header.map(() => '---'), ...lines]
    .map((cells) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`)
    .join('\n');
}

export function printIncrementalReport(report: IncrementalReport): void {
  const { rows } = report;
  const title = (m: Method) =>
    ({ full: 'ours full zstd', chunked: 'ours chunked', ...report.peerTitles })[m] ?? m;
  console.log(
    `\nmachine: ${os.availableParallelism()} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 1024 / MiB)} GiB RAM, node ${process.version}; ` +
      `load average (1/5/15 min) at start ${report.loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at end ${load()}`,
  );
  console.log(
    `disk: ${report.disk}; chunk size ${mib(report.chunkSize)}; day of change: seed "${report.seed}", ${(report.share * 100).toFixed(1)}% of the used bytes written a day`,
  );

  console.log('\nEach day (wall time with CPU time, peak RSS; uploads in MiB):\n');
  console.log(
    table(
      [
        'day',
        'change (written / deleted)',
        'changed chunks, compressed',
        'read floor: curl export > /dev/null',
        `${title('full')}: wall, RSS, layer`,
        `${title('chunked')}: wall, RSS`,
        'chunked: uploaded (own count / all written)',
        'chunks new / reused / zero',
        `${title('kopia')}: wall, RSS`,
        `${title('restic')}: wall, RSS`,
      ],
      rows.map((r) => {
        const c = r.runs.chunked;
        return [
          String(r.day),
          r.change ? `${mib(r.change.writtenBytes)} / ${mib(r.change.deleted.bytes)}` : 'fresh disk',
          `${r.changed.chunks}, ${mib(r.changed.compressedBytes)}`,
          secs(r.runs.read),
          r.runs.full
            ? `${secs(r.runs.full)}, ${rss(r.runs.full)}, ${mib(r.runs.full.uploadedBytes)}`
            : 'n/a',
          c ? `${secs(c)}, ${rss(c)}` : 'pending',
          c ? `${mib(c.uploadedBytes)} / ${mib(c.writtenBytes)}` : '',
          c?.chunks ? `${c.chunks.uploaded} / ${c.chunks.reused} / ${c.chunks.zero}` : '',
          r.runs.kopia ? `${secs(r.runs.kopia)}, ${rss(r.runs.kopia)}` : 'n/a',
          r.runs.restic ? `${secs(r.runs.restic)}, ${rss(r.runs.restic)}` : 'n/a',
        ];
      }),
    ),
  );

  console.log('\nStorage after each day (du):\n');
  console.log(
    table(
      [
        'day',
        'registry, full zstd (one image a day)',
        'registry, chunked',
        `${title('kopia')} repository`,
        `${title('restic')} repository`,
      ],
      rows.map((r) => [
        String(r.day),
        mib(r.storage.full) || 'n/a',
        mib(r.storage.chunked) || 'pending',
        mib(r.storage.kopia) || 'n/a',
        mib(r.storage.restic) || 'n/a',
      ]),
    ),
  );
  printFigures(report, title);
}

/** Sum of a field over days 2..N, or undefined when any day lacks it. */
function later(rows: DayRow[], get: (r: DayRow) => number | undefined): number | undefined {
  let sum = 0;
  for (const r of rows.slice(1)) {
    const v = get(r);
    if (v === undefined) return undefined;
    sum += v;
  }
  return sum;
}

function printFigures(report: IncrementalReport, title: (m: Method) => string): void {
  const { rows } = report;
  const last = rows.at(-1)!;
  const days = rows.length;
  const lines: string[][] = [];
  // A figure without its number: "pending" while our chunked push did not run, "n/a" when
  // the other side was left out (--only).
  const missing = rows.some((r) => r.runs.chunked) ? 'n/a' : 'pending';
  const times = (v: number | undefined) => (v === undefined ? 'n/a' : `${v.toFixed(2)}x`);
  const figure = (
    what: string,
    value: number | undefined,
    target: string,
    met: (v: number) => boolean,
    how: string,
  ) =>
    lines.push([
      what,
      value === undefined ? missing : `${value.toFixed(2)}x`,
      target,
      value === undefined ? missing : met(value) ? 'met' : 'MISSED',
      how,
    ]);
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? undefined : a / b;

  figure(
    `wall time of day 2..${days}'s backup vs our full zstd backup`,
    ratio(
      later(rows, (r) => r.runs.chunked?.wallMs),
      later(rows, (r) => r.runs.full?.wallMs),
    ),
    '≤ 0.4x',
    (v) => v <= 0.4,
    `sum over days 2..${days} of the chunked push's wall / the same days' full push`,
  );
  figure(
    `bytes uploaded on day 2..${days} vs the compressed size of the changed chunks`,
    ratio(
      later(rows, (r) => r.runs.chunked?.writtenBytes),
      later(rows, (r) => r.changed.compressedBytes),
    ),
    '≤ 1.25x',
    (v) => v <= 1.25,
    `all the push process wrote (wchar: chunks, headers, HEADs, manifests, TLS to the export) / the changed chunks zstd-compressed; the push's own count: ${times(
      ratio(
        later(rows, (r) => r.runs.chunked?.uploadedBytes),
        later(rows, (r) => r.changed.compressedBytes),
      ),
    )}`,
  );
  figure(
    `registry storage after ${days} days vs one full zstd image`,
    ratio(last.storage.chunked, rows[0]!.storage.full),
    '≤ 1.5x',
    (v) => v <= 1.5,
    `du of the chunked registry's storage after day ${days} / du of the full registry's after day 1 (one image)`,
  );
  figure(
    `registry storage after ${days} days vs Kopia's repository`,
    ratio(last.storage.chunked, last.storage.kopia),
    '≤ 1.15x',
    (v) => v <= 1.15,
    `du after day ${days}, both; restic's repository: ${mib(last.storage.restic) || 'n/a'}`,
  );
  figure(
    'wall time per backup vs Kopia’s, day 1',
    ratio(rows[0]!.runs.chunked?.wallMs, rows[0]!.runs.kopia?.wallMs),
    '< 1x (faster)',
    (v) => v < 1,
    'the first, full backup',
  );
  figure(
    `wall time per backup vs Kopia’s, days 2..${days}`,
    ratio(
      later(rows, (r) => r.runs.chunked?.wallMs),
      later(rows, (r) => r.runs.kopia?.wallMs),
    ),
    '< 1x (faster)',
    (v) => v < 1,
    `sums over days 2..${days}; restic: ${times(
      ratio(
        later(rows, (r) => r.runs.chunked?.wallMs),
        later(rows, (r) => r.runs.restic?.wallMs),
      ),
    )} of restic's`,
  );
  const peak = Math.max(...rows.map((r) => r.runs.chunked?.maxRssBytes ?? NaN));
  lines.push([
    'peak RSS of our chunked push',
    Number.isNaN(peak) ? missing : `${Math.round(peak / MiB)} MiB`,
    '≤ 150 MiB, flat with disk size',
    Number.isNaN(peak) ? missing : peak <= 150 * MiB ? 'met' : 'MISSED',
    `the largest of the ${days} days on this ${mib(report.diskSize)} disk (GNU time %M); flat: compare runs with --disk of two sizes. Full zstd push: ${rss(
      rows
        .map((r) => r.runs.full)
        .reduce<Run | undefined>((a, b) => (b && (!a || b.maxRssBytes > a.maxRssBytes) ? b : a), undefined),
    )}`,
  ]);
  console.log(`\nFigures (${title('chunked')} vs the others, this run):\n`);
  console.log(table(['figure', 'this run', 'target', '', 'how'], lines));
}
