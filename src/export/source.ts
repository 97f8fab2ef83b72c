// The raw disk of a VirtualMachineExport, read over HTTPS (CA from the export's
// status, token in the x-kubevirt-export-token header). KubeVirt's raw endpoint
// sends Content-Length and honours Range, so a dropped connection is resumed
// from the last byte we consumed instead of starting a multi-GiB read again.
import { describeClientError } from '../kube/client-error.js';
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import { DataPathError } from './errors.js';
import { httpsGet, type HttpsGetResponse } from './https-get.js';

export interface ExportSourceOptions {
  /** The `raw` format URL from the export's status links. */
  url: string;
  /** The CA bundle (PEM) from the export's status links; the server certificate is verified against it. */
  caPem: string;
  /** The export token (from the export's token Secret). */
  token: string;
  /** How many times a failed request is retried (and a dropped stream resumed) in a row. Default 5. */
  retries?: number;
  /** First backoff delay; doubles on each retry. Default 500 ms. */
  backoffMs?: number;
  /** A connection that delivers nothing for this long counts as dropped. Default 60 s. */
  idleTimeoutMs?: number;
  /** Told about each resume, e.g. for a log line. */
  onResume?: (info: { offset: number; attempt: number; error: Error }) => void;
  /**
   * Stops the retries and resumes at once (the transfer Pod's SIGTERM). Without it, a
   * transfer stopped while its exporter is also going away (a deleted ServerImage takes
   * both) waited out the whole backoff, about 15 s, before it could cancel its upload.
   */
  signal?: AbortSignal;
}

export interface ExportSource {
  /** Size of the disk in bytes (Content-Length of the raw endpoint). */
  size: number;
  /**
   * The disk's bytes, in order, exactly `size` of them; resumes by Range on its
   * own. Each chunk is valid until the next one is requested (reused buffers).
   * Iterate once.
   */
  body: AsyncIterable<Buffer>;
}

const TOKEN_HEADER = 'x-kubevirt-export-token';

/** Opens the export (first request, to learn the size) and returns its self-resuming body. */
export async function openExportSource(options: ExportSourceOptions): Promise<ExportSource> {
  const retries = options.retries ?? 5;
  const backoffMs = options.backoffMs ?? 500;
  const first = await withRetries(retries, backoffMs, options.signal, () => request(options, 0));
  const size = contentLength(first);
  const span = { start: 0, end: size, size };
  return { size, body: resumingBody(options, first, span, retries, backoffMs) };
}

/**
 * Bytes [start, end) of an export whose size is known (a second read, e.g. the
 * qcow2 data pass): one Range request, resumed by Range like the whole body.
 * Each chunk is valid until the next one is requested. Iterate once.
 */
export function readExportRange(
  options: ExportSourceOptions,
  span: { start: number; end: number; size: number },
): AsyncIterable<Buffer> {
  return resumingBody(options, undefined, span, options.retries ?? 5, options.backoffMs ?? 500);
}

interface Span {
  start: number;
  end: number;
  size: number;
}

async function* resumingBody(
  options: ExportSourceOptions,
  first: HttpsGetResponse | undefined,
  { start, end, size }: Span,
  retries: number,
  backoffMs: number,
): AsyncGenerator<Buffer> {
  if (end <= start) return;
  let response: HttpsGetResponse | undefined =
    first ??
    (await withRetries(retries, backoffMs, options.signal, () => request(options, start, size, end)));
  let consumed = start;
  let failures = 0;
  let error = new Error('not connected');
  try {
    for (;;) {
      const before = consumed;
      if (response) {
        try {
          for await (const chunk of response.body) {
            // Never hand out more than asked for, whatever the server sends.
            const part = consumed + chunk.length > end ? chunk.subarray(0, end - consumed) : chunk;
            consumed += part.length;
            yield part;
            if (consumed === end) return;
          }
          if (consumed === end) return;
          error = new Error(`the connection ended after ${consumed} of ${end} bytes`);
        } catch (err) {
          error = err as Error;
        }
      }
      response?.destroy();
      response = undefined;
      // A connection that made progress earns a fresh set of retries: a flaky
      // link that drops every few GiB should still finish a large disk.
      failures = consumed > before ? 1 : failures + 1;
      if (failures > retries) throw giveUp(options.url, consumed, end, retries, error);
      options.onResume?.({ offset: consumed, attempt: failures, error });
      await abortableSleep(backoffMs * 2 ** (failures - 1), options.signal);
      try {
        response = await request(options, consumed, size, end);
      } catch (err) {
        if (!(err instanceof DataPathError) || !err.retryable) throw err;
        error = err;
      }
    }
  } finally {
    response?.destroy();
  }
}

/** ExportUnavailable when the server is gone (can't connect, 5xx), ExportTruncated when it just stops sending. */
function giveUp(url: string, consumed: number, size: number, retries: number, error: Error): DataPathError {
  if (error instanceof DataPathError) return error;
  return new DataPathError(
    'ExportTruncated',
    `export ${redact(url)} delivered ${consumed} of ${size} bytes; gave up after ${retries} resumes: ${describeClientError(error)}`,
    { retryable: true, cause: error },
  );
}

/**
 * One GET; `offset > 0` (or an `end` short of `size`) asks for bytes [offset, end)
 * and checks the 206 answer matches.
 */
async function request(
  options: ExportSourceOptions,
  offset: number,
  size?: number,
  end = size,
): Promise<HttpsGetResponse> {
  const headers: Record<string, string> = { [TOKEN_HEADER]: options.token };
  const ranged = offset > 0 || (end !== undefined && end !== size);
  if (ranged) headers.range = `bytes=${offset}-${end !== size ? end! - 1 : ''}`;
  let res: HttpsGetResponse;
  try {
    res = await httpsGet(options.url, {
      ca: options.caPem,
      headers,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    });
  } catch (err) {
    const error = err as Error;
    throw new DataPathError(
      'ExportUnavailable',
      `cannot read export ${redact(options.url)}: ${describeClientError(error)}`,
      {
        retryable: true,
        cause: error,
      },
    );
  }
  const failure = statusFailure(
    options.url,
    res.status,
    ranged ? { offset, end: end!, size: size! } : undefined,
    res,
  );
  if (failure) {
    res.destroy();
    throw failure;
  }
  return res;
}

function statusFailure(
  url: string,
  status: number,
  range: { offset: number; end: number; size: number } | undefined,
  res: HttpsGetResponse,
): DataPathError | undefined {
  const where = `export ${redact(url)}`;
  if (status >= 500) {
    return new DataPathError('ExportUnavailable', `${where} answered ${status}`, { retryable: true });
  }
  if (status === 401 || status === 403) {
    return new DataPathError('ExportUnauthorized', `${where} refused the export token (${status})`, {
      retryable: false,
    });
  }
  if (!range && status !== 200) {
    return new DataPathError('ExportInvalid', `${where} answered ${status}, expected 200`, {
      retryable: false,
    });
  }
  if (range) {
    const expected = `bytes ${range.offset}-${range.end - 1}/${range.size}`;
    if (status !== 206 || res.headers['content-range'] !== expected) {
      return new DataPathError(
        'ExportInvalid',
        `${where} cannot read from byte ${range.offset}: answered ${status} with Content-Range ` +
          `${res.headers['content-range'] ?? '(none)'}, expected 206 with ${expected}`,
        { retryable: false },
      );
    }
  }
  return undefined;
}

function contentLength(res: HttpsGetResponse): number {
  const size = Number(res.headers['content-length']);
  if (!Number.isSafeInteger(size) || size < 0) {
    res.destroy();
    throw new DataPathError(
      'ExportInvalid',
      'the export server sent no Content-Length; use the volume\'s "raw" format link',
      { retryable: false },
    );
  }
  return size;
}

/** Retries retryable failures of `attempt` with exponential backoff (p-retry, no jitter: one reader). */
function withRetries<T>(
  retries: number,
  backoffMs: number,
  signal: AbortSignal | undefined,
  attempt: () => Promise<T>,
): Promise<T> {
  return pRetry(attempt, {
    retries,
    factor: 2,
    minTimeout: backoffMs,
    randomize: false,
    signal,
    shouldRetry: ({ error }) => error instanceof DataPathError && error.retryable,
  });
}

/** Waits `ms`; an abort ends the wait at once with the signal's reason. */
async function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}

/** The URL without its query: KubeVirt also accepts the token as a query parameter. */
function redact(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}
