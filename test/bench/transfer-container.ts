// The `ours: zstd, transfer container` row of the data-path bench: the same push as
// `ours: zstd`, run as a transfer Pod runs it: the operator's image built here from the
// Dockerfile (build-images.sh), the transfer command of the Pod spec, the request in its
// environment, the export token as a mounted file, the chart's default memory limit
// (512 MiB), read-only root, uid 65532; under the container engine with the host's network
// (no kubelet: the Pod's scheduling and start are the test suites', not this figure). Wall
// time includes the container's start. CPU from the container's cgroup (cpuacct, read every
// 100 ms while it runs: its last 100 ms may be missed); peak RSS the one the transfer
// reports in its result, as every transfer Pod does (its process's ru_maxrss).
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { imageRef } from '../harness/container-images.js';
import { encodeRequest, EXPORT_TOKEN_FILE, MOUNTS, REQUEST_ENV } from '../../src/transfer/request.js';
import { decodeResult, TERMINATION_MESSAGE_PATH } from '../../src/transfer/result.js';
import { TRANSFER_COMMAND } from '../../src/transfer/pod-spec.js';

export interface ContainerPushInput {
  url: string;
  caPem: string;
  token: string;
  repository: string;
  tag: string;
  work: string;
}

export interface ContainerPushRow {
  wallMs: number;
  cpuSeconds: number;
  maxRssBytes: number;
  layerBytes: number;
  note: string;
}

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();

function cpuSecondsOf(id: string): number | undefined {
  try {
    return Number(readFileSync(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, 'utf8')) / 1e9;
  } catch {
    return undefined;
  }
}

export async function pushInTransferContainer(input: ContainerPushInput): Promise<ContainerPushRow> {
  const image = `docker.io/${imageRef('operator')}`;
  const dir = mkdtempSync(path.join(input.work, 'transfer-'));
  const tokenDir = path.join(dir, 'export-token');
  const termination = path.join(dir, 'termination-log');
  mkdirSync(tokenDir);
  writeFileSync(path.join(tokenDir, EXPORT_TOKEN_FILE), input.token);
  writeFileSync(termination, '');
  // uid 65532 writes the result into it, as the kubelet's termination-log file.
  chmodSync(termination, 0o666);
  const request = encodeRequest({
    version: 1,
    repository: input.repository,
    insecure: true,
    exportCaPem: input.caPem,
    volumes: [{ volume: 'rootdisk', tag: input.tag, url: input.url }],
    format: { compression: 'zstd' },
    imageName: `bench ${input.tag}`,
    sourceVm: { namespace: 'bench', name: 'bench', uid: 'bench' },
    created: new Date().toISOString(),
  });
  const started = performance.now();
  const id = docker(
    'run',
    '-d',
    '--network=host',
    '--memory=512m',
    '--read-only',
    '--user=65532:65532',
    '--cap-drop=ALL',
    `--env=${REQUEST_ENV}=${request}`,
    `--volume=${tokenDir}:${MOUNTS.exportToken}:ro`,
    `--volume=${termination}:${TERMINATION_MESSAGE_PATH}`,
    `--entrypoint=${TRANSFER_COMMAND[0]}`,
    image,
    ...TRANSFER_COMMAND.slice(1),
  );
  let cpuSeconds = 0;
  const sampler = setInterval(() => {
    cpuSeconds = cpuSecondsOf(id) ?? cpuSeconds;
  }, 100);
  try {
    // Not a sync call: the sampler runs meanwhile.
    const exit = (await promisify(execFile)('docker', ['wait', id], { encoding: 'utf8' })).stdout.trim();
    const wallMs = performance.now() - started;
    const result = decodeResult(readFileSync(termination, 'utf8'));
    if (exit !== '0' || !result?.succeeded)
      throw new Error(`the transfer container exited ${exit}: ${docker('logs', '--tail', '20', id)}`);
    const volume = result.volumes[0]!;
    return {
      wallMs,
      cpuSeconds,
      maxRssBytes: result.peakRssBytes ?? 0,
      layerBytes: volume.layerSize ?? 0,
      note: `push ${(volume.seconds ?? 0).toFixed(1)} s of it; cgroup peak ${Math.round((result.cgroupPeakBytes ?? 0) / 1024 / 1024)} MiB`,
    };
  } finally {
    clearInterval(sampler);
    spawnSync('docker', ['rm', '-f', id]);
    rmSync(dir, { recursive: true, force: true });
  }
}
