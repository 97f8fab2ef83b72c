// `npx tsx test/bench/compress-only.ts [sizeMiB] [blockKiB] [concurrency]`: the
// compression stage alone on the benchmark's disk pattern (no network): wall,
// CPU of all threads, peak RSS. For quick before/after comparisons while tuning.
import { createHash } from 'node:crypto';
import { compressInBlocks } from '../../src/export/parallel-compress.js';
import { diskPieces } from '../harness/disks.js';

const MiB = 1024 * 1024;
const sizeMiB = Number(process.argv[2] ?? 1024);
const blockSize = Number(process.argv[3] ?? 0) * 1024 || undefined;
const concurrency = Number(process.argv[4] ?? 0) || undefined;
const ZEROS = Buffer.alloc(MiB);

async function* disk(): AsyncGenerator<Buffer> {
  // 64 KiB pieces, like a network stream; data pieces are made before timing starts.
  for (const piece of pieces) {
    for (let i = 0; i < piece.length; i += 65536) yield piece.subarray(i, i + 65536);
  }
}

const pieces: Buffer[] = [];
for (const piece of diskPieces({ size: 4 * MiB, seed: 'compress-only' })) {
  pieces.push(piece.kind === 'data' ? piece.bytes : ZEROS.subarray(0, piece.length));
}
async function* repeated(): AsyncGenerator<Buffer> {
  for (let i = 0; i < sizeMiB / 4; i++) yield* disk();
}

const cpu = process.cpuUsage();
const started = performance.now();
const diffId = createHash('sha256');
let out = 0;
for await (const chunk of compressInBlocks(repeated(), {
  algorithm: 'gzip',
  blockSize,
  concurrency,
  onBlock: (b) => diffId.update(b),
})) {
  out += chunk.length;
}
const wall = (performance.now() - started) / 1000;
const used = process.cpuUsage(cpu);
console.log(
  `${sizeMiB} MiB -> ${(out / MiB).toFixed(0)} MiB in ${wall.toFixed(2)} s (${(sizeMiB / wall).toFixed(0)} MiB/s), ` +
    `CPU ${((used.user + used.system) / 1e6).toFixed(2)} s, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
);
