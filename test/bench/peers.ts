// What the benchmark compares ours with, on the same export and registry: the
// limits (how fast the export can be read, and compressed by the best CLI tools
// with every core) and what a user would do instead (download to a file, then
// crane; with pigz; KubeVirt's disk-uploader way through qemu-img). Each is
// measured with GNU time: wall, CPU, and the peak RSS of the largest process.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measure, type Measured } from './measure.js';

export interface PeerContext {
  /** curl arguments reading the export into `output` ('-' for stdout). */
  curl(output: string): string[];
  crane: string;
  /** Where the registry is, host:port. */
  registryHost: string;
  work: string;
  label: string;
  qemuImg?: string;
}

export interface PeerResult {
  wallMs: number;
  cpuSeconds: number;
  maxRssBytes: number;
  scratchBytes: number;
  layerBytes?: number;
  note?: string;
}

export type PeerMethod = 'read' | 'pigz' | 'zstd' | 'zstd3' | 'crane' | 'pigz-crane' | 'qemu-crane';

export const PEER_TITLES: Record<PeerMethod, string> = {
  read: 'limit: curl export > /dev/null',
  pigz: `limit: curl export | pigz -1 -p ${os.availableParallelism()}`,
  zstd: `limit: curl export | zstd -1 -T${os.availableParallelism()}`,
  zstd3: `limit: curl export | zstd -3 -T${os.availableParallelism()} (our zstd level)`,
  crane: "today's user: curl > file, tar, crane append",
  'pigz-crane': 'curl > file, tar | pigz -1, crane append',
  'qemu-crane': 'disk-uploader way: curl > file, qemu-img convert -O qcow2, tar, crane append',
};

const cores = String(os.availableParallelism());
/** The limits' compressors, fed the export by curl. zstd -3 is also ours' level (zstd's default). */
const LIMIT_COMPRESSORS: Partial<Record<PeerMethod, string[]>> = {
  pigz: ['pigz', '-1', '-p', cores],
  zstd: ['zstd', '-1', `-T${cores}`],
  zstd3: ['zstd', '-3', `-T${cores}`],
};
const shellQuote = (args: string[]) => args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');

/**
 * A shell pipeline, measured as one (GNU time reports the largest RSS among its
 * processes); its output is counted (`wc -c`), to compare with our layer's size.
 */
async function pipeline(commands: string[][]): Promise<Measured & { outputBytes: number }> {
  const m = await measure('bash', [
    '-o',
    'pipefail',
    '-c',
    [...commands, ['wc', '-c']].map(shellQuote).join(' | '),
  ]);
  return { ...m, outputBytes: Number(m.stdout.trim()) };
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) * 1024;
}

function sum(steps: Measured[], scratchBytes: number, names: string[]): PeerResult {
  return {
    wallMs: steps.reduce((n, s) => n + s.wallMs, 0),
    cpuSeconds: steps.reduce((n, s) => n + s.cpuSeconds, 0),
    maxRssBytes: Math.max(...steps.map((s) => s.maxRssBytes)),
    scratchBytes,
    note: steps.map((s, i) => `${names[i]} ${(s.wallMs / 1000).toFixed(1)} s`).join(', '),
  };
}

async function layerSize(ctx: PeerContext, ref: string): Promise<number> {
  const out = await measure(ctx.crane, ['manifest', '--insecure', ref]);
  return (JSON.parse(out.stdout) as { layers: { size: number }[] }).layers[0]!.size;
}

/** `crane append` of a layer file onto an empty image, as a user would push it. */
async function craneAppend(ctx: PeerContext, layer: string, tag: string) {
  const ref = `${ctx.registryHost}/bench/${tag}:${ctx.label}`;
  const push = await measure(ctx.crane, ['append', '--insecure', '--oci-empty-base', '-f', layer, '-t', ref]);
  return { push, ref };
}

/** disk/<file> made read-only as kubevirt/containerdisks has it, then tarred (and gzipped by pigz for out ['-']). */
async function tarDisk(scratch: string, file: string, out: string[]): Promise<Measured> {
  chmodSync(path.join(scratch, 'disk', file), 0o444);
  chmodSync(path.join(scratch, 'disk'), 0o555);
  const tar = ['tar', '--owner=107', '--group=107', '--numeric-owner', '-C', scratch, '-cf', ...out, 'disk'];
  return out[0] === '-'
    ? measure('bash', [
        '-o',
        'pipefail',
        '-c',
        `${shellQuote(tar)} | pigz -1 -p ${cores} > ${shellQuote([path.join(scratch, 'layer.tar.gz')])}`,
      ])
    : measure(tar[0]!, tar.slice(1));
}

export async function runPeer(method: PeerMethod, ctx: PeerContext): Promise<PeerResult> {
  if (method === 'read') {
    const m = await measure('curl', ctx.curl('/dev/null'));
    return { ...m, scratchBytes: 0 };
  }
  const compressor = LIMIT_COMPRESSORS[method];
  if (compressor) {
    const { outputBytes, ...m } = await pipeline([['curl', ...ctx.curl('-')], compressor]);
    return { ...m, scratchBytes: 0, layerBytes: outputBytes };
  }

  const scratch = path.join(ctx.work, `scratch-${method}-${ctx.label}`);
  mkdirSync(path.join(scratch, 'disk'), { recursive: true });
  try {
    const raw = path.join(scratch, method === 'qemu-crane' ? 'disk.raw' : path.join('disk', 'disk.img'));
    const download = await measure('curl', ctx.curl(raw));
    const steps: Measured[] = [download];
    const names = ['download'];
    if (method === 'qemu-crane') {
      if (!ctx.qemuImg) throw new Error('qemu-img not found');
      steps.push(
        await measure(ctx.qemuImg, [
          'convert',
          '-f',
          'raw',
          '-O',
          'qcow2',
          raw,
          path.join(scratch, 'disk', 'disk.img'),
        ]),
      );
      names.push('qemu-img');
    }
    const gz = method === 'pigz-crane';
    steps.push(await tarDisk(scratch, 'disk.img', gz ? ['-'] : [path.join(scratch, 'layer.tar')]));
    names.push(gz ? 'tar | pigz' : 'tar');
    const scratchPeak = duBytes(scratch);
    const { push, ref } = await craneAppend(
      ctx,
      path.join(scratch, gz ? 'layer.tar.gz' : 'layer.tar'),
      method,
    );
    steps.push(push);
    names.push('crane');
    return { ...sum(steps, scratchPeak, names), layerBytes: await layerSize(ctx, ref) };
  } finally {
    chmodSync(path.join(scratch, 'disk'), 0o755);
    rmSync(scratch, { recursive: true, force: true });
  }
}
