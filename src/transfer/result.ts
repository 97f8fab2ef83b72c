// What a transfer Pod leaves behind when it ends: its result as the container's
// termination message (the kubelet copies the file into the Pod's status, where the
// operator reads it without reaching the Pod), and an exit code that says, even when no
// message could be written (OOMKilled, SIGKILL), whether another attempt can help.
import { Reason } from '../api/serverimage-conditions.js';
import { z } from 'zod';
import { uploadedLayerSchema } from './request.js';

/** Kubernetes keeps at most 4096 bytes of a container's termination message. */
export const TERMINATION_MESSAGE_LIMIT = 4096;
export const TERMINATION_MESSAGE_PATH = '/dev/termination-log';

export const EXIT = {
  ok: 0,
  /** The request or the mounted files are unusable: the same Pod would fail again (sysexits EX_USAGE). */
  badRequest: 64,
  /** A failure no retry helps (registry refused, export invalid) (EX_DATAERR). */
  permanent: 65,
  /** Worth another attempt: registry or export server unavailable (EX_TEMPFAIL). */
  retryable: 75,
  /** Stopped by SIGTERM (ServerImage deleted, Pod evicted): its upload session cancelled. */
  terminated: 143,
} as const;

const pushedVolumeSchema = z.object({
  volume: z.string(),
  /** The manifest's digest. */
  digest: z.string(),
  tag: z.string().optional(),
  /** Bytes of the raw disk. */
  size: z.number(),
  diskFormat: z.string().optional(),
  fileSize: z.number().optional(),
  layerDigest: z.string().optional(),
  layerSize: z.number().optional(),
  diffId: z.string().optional(),
  diskSha256: z.string().optional(),
  chunked: z
    .object({
      chunkSize: z.number(),
      chunks: z.number(),
      zeroChunks: z.number(),
      newChunks: z.number(),
      reusedChunks: z.number(),
      newBytes: z.number(),
      reusedBytes: z.number(),
      diskSha256: z.string(),
    })
    .optional(),
  seconds: z.number().optional(),
});

export const transferResultSchema = z.object({
  version: z.literal(1),
  /** Every volume of the request is pushed. */
  succeeded: z.boolean(),
  /** Volumes pushed, in the request's order (also those pushed before a failure). */
  volumes: z.array(pushedVolumeSchema),
  /**
   * Pushed volumes left out so the message fits in 4096 bytes (the last ones). Their images
   * are in the registry under the request's tags: the reader resolves those.
   */
  omitted: z.number().int().positive().optional(),
  /** A layer completed before the failure, to pass on to the next attempt (uploadedLayers). */
  layer: uploadedLayerSchema.extend({ volume: z.string() }).optional(),
  /** An upload session whose cancel the registry did not confirm: the next attempt cancels it. */
  uploadSession: z.string().optional(),
  error: z.object({ reason: z.string(), message: z.string(), retryable: z.boolean() }).optional(),
  /** The process's peak resident memory (bytes): what --transfer-memory-limit must allow. */
  peakRssBytes: z.number().optional(),
  /** The container's cgroup's peak memory (bytes), page cache included: what the OOM killer counts. */
  cgroupPeakBytes: z.number().optional(),
});

export type TransferResult = z.infer<typeof transferResultSchema>;
export type PushedVolume = z.infer<typeof pushedVolumeSchema>;

/** The exit code for a result (what the kubelet reports even if the message is lost). */
export function exitCodeOf(result: TransferResult, terminated: boolean): number {
  if (result.succeeded) return EXIT.ok;
  if (terminated) return EXIT.terminated;
  if (result.error?.reason === Reason.TransferRequestInvalid) return EXIT.badRequest;
  return result.error?.retryable === false ? EXIT.permanent : EXIT.retryable;
}

const MAX_ERROR_MESSAGE = 1024;
const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text).length;

/** Only what a ServerImage's status.images needs of a volume. */
const essential = ({ volume, digest, size, diskFormat, layerSize }: PushedVolume): PushedVolume => ({
  volume,
  digest,
  size,
  diskFormat,
  layerSize,
});

/**
 * The result as JSON of at most `limit` bytes, giving up detail in steps until it fits:
 * first the long error message is cut, then each volume keeps only what status.images
 * needs (its manifest digest, sizes and disk format: the rest is in the manifest), and last
 * the final volumes are left out and counted in `omitted` (their tags find them).
 */
export function encodeResult(result: TransferResult, limit = TERMINATION_MESSAGE_LIMIT): string {
  const error = result.error && {
    ...result.error,
    message:
      result.error.message.length > MAX_ERROR_MESSAGE
        ? `${result.error.message.slice(0, MAX_ERROR_MESSAGE - 1)}…`
        : result.error.message,
  };
  const whole: TransferResult = { ...result, ...(error ? { error } : {}) };
  let text = JSON.stringify(whole);
  if (bytes(text) <= limit) return text;
  const volumes = whole.volumes.map(essential);
  for (let kept = volumes.length; kept >= 0; kept--) {
    const omitted = volumes.length - kept;
    text = JSON.stringify({
      ...whole,
      volumes: volumes.slice(0, kept),
      ...(omitted > 0 ? { omitted } : {}),
    });
    if (bytes(text) <= limit) return text;
  }
  // Not even without volumes (a huge session URL): the verdict alone.
  return JSON.stringify({
    version: 1,
    succeeded: result.succeeded,
    volumes: [],
    ...(volumes.length > 0 ? { omitted: volumes.length } : {}),
    ...(error ? { error: { ...error, message: error.message.slice(0, 512) } } : {}),
  });
}

/** A termination message read back; undefined when it is not one of ours (an empty or foreign message). */
export function decodeResult(text: string | undefined): TransferResult | undefined {
  if (!text) return undefined;
  try {
    const parsed = transferResultSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
