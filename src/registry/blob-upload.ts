// The chunked blob upload of the distribution spec, made for blobs of hundreds of GiB:
// POST opens a session, each chunk goes up in a PATCH with Content-Range to the newest
// Location, and a PUT ?digest= closes it. The sha256 is computed while streaming. A chunk
// that fails with a 5xx, a 416 or a broken connection is resumed: GET <location> tells how
// many bytes the registry holds, and the rest of the chunk goes again. Any failure that
// remains cancels the session (DELETE) so no half-made upload is left behind.
//
// Memory: the chunk in flight plus the next one being filled from the source.
import { createHash } from 'node:crypto';
import { fixedSizeChunks, releaseChunks } from './chunks.js';
import { isRegistryError, RegistryError } from './errors.js';
import { header } from './http-transport.js';
import type { Logger } from '../logger.js';
import type { RegistrySession } from './registry-session.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, withRetries, type RetryPolicy } from './retry.js';
import { contentRange, resolveLocation, storedBytesFromRange, withDigest } from './upload-location.js';

export interface BlobUploadOptions {
  /** Fail with DigestMismatch (and cancel) when the streamed bytes have another digest. */
  expectedDigest?: string;
  /** Bytes per PATCH (default 16 MiB). */
  chunkSize?: number;
  /** Called after each chunk the registry accepted, with the bytes uploaded so far. */
  onProgress?: (bytesUploaded: number) => void;
  /**
   * Called once the session is open, with its Location: a caller that may be killed
   * records it, so that its successor can cancel the session (cancelUploadSession).
   */
  onSessionStarted?: (location: string) => void | Promise<void>;
  /**
   * Called once the session is closed for sure: the blob completed, or the registry
   * confirmed the cancel after a failure. Until then the caller keeps the Location
   * recorded, so a cancel that failed (registry down) is retried later.
   */
  onSessionClosed?: () => void | Promise<void>;
}

export interface BlobUploadResult {
  digest: string;
  size: number;
}

export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

interface UploadContext {
  session: RegistrySession;
  /** Repository name, for /v2/<name>/ paths. */
  name: string;
  retry: RetryPolicy;
  logger?: Logger;
  /** Used when the closing PUT's answer is lost: the blob may be there anyway. */
  blobExists: (digest: string) => Promise<boolean>;
}

export async function uploadBlobChunked(
  ctx: UploadContext,
  source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>,
  options: BlobUploadOptions = {},
): Promise<BlobUploadResult> {
  const { session } = ctx;
  let location = await withRetries(ctx.retry, async () => {
    const started = await session.exchange({
      method: 'POST',
      url: `${session.origin}/v2/${ctx.name}/blobs/uploads/`,
      headers: { 'content-length': '0' },
      expect: [202],
      what: 'POST start blob upload',
    });
    return resolveLocation(header(started, 'location'), started.url);
  });
  await options.onSessionStarted?.(location);

  // Two buffers in turn: one chunk on the wire, the next filling (see the loop below).
  const slots: Buffer[] = [];
  const chunks = fixedSizeChunks(source, options.chunkSize ?? DEFAULT_CHUNK_SIZE, { rotate: 2, slots });
  try {
    const hash = createHash('sha256');
    let offset = 0;
    let next = readSource(chunks);
    for (;;) {
      const item = await next;
      if (item.done) break;
      // Fill the next chunk from the source while this one is on the wire.
      next = readSource(chunks);
      next.catch(() => undefined);
      hash.update(item.value);
      location = await sendChunk(ctx, location, item.value, offset);
      offset += item.value.length;
      options.onProgress?.(offset);
    }
    // Every chunk has been sent and the source is done. (After a failure the buffers are
    // left to the collector: a prefetch may still be filling one.)
    releaseChunks(slots);
    const digest = `sha256:${hash.digest('hex')}`;
    if (options.expectedDigest && options.expectedDigest !== digest) {
      throw new RegistryError(
        'DigestMismatch',
        `blob upload (${session.label}): the data streamed has digest ${digest}, expected ${options.expectedDigest}`,
      );
    }
    await closeUpload(ctx, location, digest);
    await options.onSessionClosed?.();
    return { digest, size: offset };
  } catch (err) {
    // Not awaited: a prefetch may still be waiting on the source.
    chunks.return(undefined).catch(() => undefined);
    const cancelled = await cancelUpload(ctx, location, { strict: true }).then(
      () => true,
      (cancelError: unknown) => {
        ctx.logger?.warn(
          {
            registry: session.label,
            error: cancelError instanceof Error ? cancelError.message : String(cancelError),
          },
          'could not cancel a failed blob upload; it stays recorded and is cancelled later',
        );
        return false;
      },
    );
    if (cancelled) await options.onSessionClosed?.();
    throw err;
  }
}

async function readSource(chunks: AsyncGenerator<Buffer>): Promise<IteratorResult<Buffer>> {
  try {
    return await chunks.next();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new RegistryError('UploadSourceFailed', `blob upload: reading the data to upload failed: ${why}`, {
      cause: err,
    });
  }
}

/** PATCHes one chunk, resuming after failures; returns the newest Location. */
async function sendChunk(
  ctx: UploadContext,
  location: string,
  chunk: Buffer,
  offset: number,
): Promise<string> {
  const end = offset + chunk.length;
  let from = offset;
  for (let attempt = 1; ; attempt++) {
    try {
      const piece = chunk.subarray(from - offset);
      const answer = await ctx.session.exchange({
        method: 'PATCH',
        url: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(piece.length),
          'content-range': contentRange(from, piece.length),
        },
        body: piece,
        expect: [202],
        what: `PATCH blob chunk ${contentRange(from, piece.length)}`,
      });
      location = resolveLocation(header(answer, 'location'), answer.url);
      const range = header(answer, 'range');
      if (range === undefined || storedBytesFromRange(range) === end) return location;
      throw new RegistryError(
        'RegistryRejected',
        `PATCH blob chunk (${ctx.session.label}): the registry holds ${range}, expected 0-${end - 1}`,
        {
          status: 416,
        },
      );
    } catch (err) {
      const resumable = isRegistryError(err) && (err.retryable || err.status === 416);
      if (!resumable || attempt >= ctx.retry.attempts) throw err;
      const delay = backoffDelay(ctx.retry, attempt);
      ctx.logger?.warn(
        { registry: ctx.session.label, attempt, delayMs: delay, error: err.message },
        'blob chunk failed; resuming',
      );
      await sleep(delay);
      const status = await uploadStatus(ctx, location);
      location = status.location;
      if (status.stored === end) return location;
      if (status.stored < offset || status.stored > end) {
        throw new RegistryError(
          'RegistryRejected',
          `blob upload (${ctx.session.label}): cannot resume, the registry holds ${status.stored} bytes and this chunk covers ${offset}-${end - 1}`,
          { cause: err },
        );
      }
      from = status.stored;
    }
  }
}

/** GET <location>: how many bytes the registry holds, and a fresh Location. */
async function uploadStatus(
  ctx: UploadContext,
  location: string,
): Promise<{ stored: number; location: string }> {
  return withRetries(ctx.retry, async () => {
    const answer = await ctx.session.exchange({
      method: 'GET',
      url: location,
      expect: [204],
      what: 'GET blob upload status',
    });
    const fresh = header(answer, 'location');
    return {
      stored: storedBytesFromRange(header(answer, 'range')),
      location: fresh ? resolveLocation(fresh, answer.url) : location,
    };
  });
}

async function closeUpload(ctx: UploadContext, location: string, digest: string): Promise<void> {
  try {
    const answer = await withRetries(ctx.retry, () =>
      ctx.session.exchange({
        method: 'PUT',
        url: withDigest(location, digest),
        headers: { 'content-length': '0', 'content-type': 'application/octet-stream' },
        expect: [201, 204],
        what: 'PUT close blob upload',
      }),
    );
    const stored = header(answer, 'docker-content-digest');
    if (stored && stored !== digest) {
      throw new RegistryError(
        'DigestMismatch',
        `PUT close blob upload (${ctx.session.label}): the registry stored ${stored}, we sent ${digest}`,
      );
    }
  } catch (err) {
    // A retried PUT after a lost answer finds the session gone; the blob decides.
    if (
      isRegistryError(err) &&
      err.reason !== 'DigestMismatch' &&
      (await ctx.blobExists(digest).catch(() => false))
    )
      return;
    throw err;
  }
}

/**
 * Deletes an upload session. Best effort by default (after a failed upload: logged, and
 * the original error wins; the caller still holds the Location and retries the cancel);
 * `strict` throws when the registry did not confirm it.
 */
export async function cancelUpload(
  ctx: UploadContext,
  location: string,
  options: { strict?: boolean } = {},
): Promise<void> {
  const cancel = (url: string) =>
    ctx.session.exchange({
      method: 'DELETE',
      url,
      expect: [200, 202, 204, 404],
      what: 'DELETE cancel blob upload',
    });
  try {
    await withRetries(ctx.retry, async () => {
      try {
        await cancel(location);
      } catch (err) {
        // Distribution refuses a stale _state (416) after a partly written chunk: a status
        // GET hands out a current Location.
        if (!isRegistryError(err) || err.status !== 416) throw err;
        await cancel((await uploadStatus(ctx, location)).location);
      }
    });
  } catch (err) {
    if (options.strict) throw err;
    ctx.logger?.warn(
      { registry: ctx.session.label, error: err instanceof Error ? err.message : String(err) },
      'could not cancel a failed blob upload; it stays recorded and is cancelled later',
    );
  }
}
