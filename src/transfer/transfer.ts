// The transfer Pod's process: read the request (environment) and the secrets (Secret
// volumes), serve progress, run the transfer, and end with the result as the termination
// message and an exit code (result.ts). SIGTERM (the ServerImage deleted, the Pod evicted)
// aborts the data path, which cancels its open upload session before the process exits;
// the Pod's grace period leaves time for that DELETE.
import { Reason } from '../api/serverimage-conditions.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { describeFailure } from '../controllers/serverimage/retry-or-give-up.js';
import type { PushedDiskImage } from '../export/index.js';
import { RegistryClient, parseRepository } from '../registry/index.js';
import type { Logger } from '../logger.js';
import { MountedSecretError, readMountedSecrets } from './mounted-secrets.js';
import { ProgressBoard, serveProgress } from './progress.js';
import {
  decodeRequest,
  MOUNTS,
  PROGRESS_PORT,
  REQUEST_ENV,
  TransferRequestError,
  type TransferRequest,
} from './request.js';
import {
  encodeResult,
  exitCodeOf,
  TERMINATION_MESSAGE_PATH,
  type PushedVolume,
  type TransferResult,
} from './result.js';
import { runTransfer } from './run-transfer.js';

export interface TransferProcessOptions {
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGTERM. */
  signal: AbortSignal;
  log: Logger;
  mounts?: typeof MOUNTS;
  /** 0: any free port (tests). */
  progressPort?: number;
}

/** Runs one transfer to its end; never throws: every failure is in the result. */
export async function transferProcess(options: TransferProcessOptions): Promise<TransferResult> {
  const { log, signal } = options;
  const volumes: PushedVolume[] = [];
  let layer: TransferResult['layer'];
  let board: ProgressBoard | undefined;
  let request: TransferRequest | undefined;
  let server: Awaited<ReturnType<typeof serveProgress>> | undefined;
  try {
    request = decodeRequest(options.env[REQUEST_ENV]);
    const host = parseRepository(request.repository, request.insecure).host;
    const secrets = readMountedSecrets(host, options.mounts);
    board = new ProgressBoard(request.volumes.map((v) => v.volume));
    const progress = board;
    server = await serveProgress(progress, options.progressPort ?? PROGRESS_PORT);
    log.info(
      { repository: request.repository, volumes: request.volumes.length, progressPort: server.port },
      'transfer started',
    );
    const registry = new RegistryClient({
      repository: request.repository,
      credentials: secrets.credentials,
      caPem: secrets.registryCaPem,
      insecure: request.insecure,
      logger: log,
    });
    try {
      await runTransfer({
        request,
        registry,
        exportToken: secrets.exportToken,
        signal,
        log,
        hooks: {
          onProgress: (volume, bytesDone, bytesTotal) => progress.update(volume, { bytesDone, bytesTotal }),
          onLayerUploaded: (volume, uploaded) => {
            layer = { volume, ...uploaded };
          },
          onUploadSession: (location) => progress.uploadSession(location),
          onVolumePushed: (volume, image, seconds) => {
            progress.update(volume, { bytesDone: image.size, bytesTotal: image.size, digest: image.digest });
            if (layer?.volume === volume) layer = undefined;
            volumes.push(pushedVolume(volume, image, seconds));
          },
        },
      });
    } finally {
      await registry.close();
    }
    board.finish('succeeded');
    return { version: 1, succeeded: true, volumes, ...peakMemory() };
  } catch (err) {
    board?.finish('failed');
    const error = signal.aborted ? cancelled(signal.reason) : failureOf(err);
    log.error({ reason: error.reason, retryable: error.retryable, error: error.message }, 'transfer failed');
    const session = board?.current.uploadSession;
    return {
      version: 1,
      succeeded: false,
      volumes,
      ...(layer ? { layer } : {}),
      ...(session ? { uploadSession: session } : {}),
      error,
      ...peakMemory(),
    };
  } finally {
    await server?.close();
  }
}

/**
 * The process's peak RSS (ru_maxrss, KiB on Linux) and, when the container's cgroup shows it
 * (v2 memory.peak, v1 memory.max_usage_in_bytes), the cgroup's peak.
 */
function peakMemory(): Pick<TransferResult, 'peakRssBytes' | 'cgroupPeakBytes'> {
  const cgroup = ['/sys/fs/cgroup/memory.peak', '/sys/fs/cgroup/memory/memory.max_usage_in_bytes']
    .map((file) => {
      try {
        return Number(readFileSync(file, 'utf8').trim());
      } catch {
        return NaN;
      }
    })
    .find((n) => Number.isSafeInteger(n) && n > 0);
  return {
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    ...(cgroup ? { cgroupPeakBytes: cgroup } : {}),
  };
}

function pushedVolume(volume: string, image: PushedDiskImage, seconds: number): PushedVolume {
  const { digest, tag, size, diskFormat, fileSize, layerDigest, layerSize, diffId, diskSha256, chunked } =
    image;
  return {
    volume,
    digest,
    tag,
    size,
    diskFormat,
    fileSize,
    ...(layerDigest ? { layerDigest } : {}),
    layerSize,
    ...(diffId ? { diffId } : {}),
    ...(diskSha256 ? { diskSha256 } : {}),
    ...(chunked ? { chunked } : {}),
    seconds: Math.round(seconds * 1000) / 1000,
  };
}

/** The error in words, with the operator's own rule for what a retry can help. */
function failureOf(err: unknown): NonNullable<TransferResult['error']> {
  if (err instanceof TransferRequestError || err instanceof MountedSecretError)
    return { reason: Reason.TransferRequestInvalid, message: err.message, retryable: false };
  return describeFailure(err);
}

function cancelled(reason: unknown): NonNullable<TransferResult['error']> {
  const why = reason instanceof Error ? reason.message : 'the transfer was stopped';
  return { reason: Reason.TransferCancelled, message: why, retryable: true };
}

/** The Pod's process: signals, the termination message, the exit code. */
export async function main(): Promise<never> {
  const log = pino({ level: process.env.LOG_LEVEL ?? 'info', base: undefined });
  const shutdown = new AbortController();
  let terminated = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      terminated = true;
      log.warn({ signal }, 'stopping: cancelling the transfer and its upload session');
      shutdown.abort(new Error(`the transfer Pod was stopped (${signal})`));
    });
  }
  const result = await transferProcess({ env: process.env, signal: shutdown.signal, log });
  const message = encodeResult(result);
  try {
    writeFileSync(TERMINATION_MESSAGE_PATH, message);
  } catch (err) {
    // Outside a Pod: the result is in the last log line.
    log.warn(
      { file: TERMINATION_MESSAGE_PATH, error: (err as Error).message },
      'cannot write the termination message',
    );
  }
  const code = exitCodeOf(result, terminated);
  log.info({ result: JSON.parse(message) as unknown, exitCode: code }, 'transfer ended');
  // The compression threads and sockets may hold the event loop: the result is written.
  process.exit(code);
}
