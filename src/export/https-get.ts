// One HTTPS GET whose body is read into a few reused buffers (tls.connect's
// `onread`), for the export's multi-GiB raw disk.
//
// Why not https.get: node's TLS layer hands every 16 KiB record to JS as a
// fresh Buffer. At hundreds of MiB/s that is tens of MiB of dead buffers that V8
// frees late (they are memory outside its heap), which measured as +40-90 MiB of
// peak RSS, plus a stream push and an iterator step per record. With `onread`
// TLS decrypts straight into our buffers and nothing is allocated per record.
//
// Scope: what KubeVirt's raw endpoint needs - HTTP/1.1, one request per
// connection (Connection: close), a body framed by Content-Length. A response
// without Content-Length is given to the caller with an empty body (the caller
// refuses it); redirects are not followed.
import { isIP, type OnReadOpts } from 'node:net';
import tls from 'node:tls';

export interface HttpsGetOptions {
  /** PEM bundle the server certificate must chain to. */
  ca: string;
  headers: Record<string, string>;
  /** Fail when the server sends nothing for this long. */
  idleTimeoutMs: number;
}

export interface HttpsGetResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /**
   * Exactly Content-Length bytes (fails if the connection ends early). Each
   * chunk is valid until the next one is requested: its buffer is reused.
   * Iterate once.
   */
  body: AsyncIterable<Buffer>;
  /** Closes the connection (also done when the body ends or fails). */
  destroy(): void;
}

/**
 * Reads land in a few large slabs, one after the other, so that the reader gets
 * 256 KiB pieces rather than one per 16 KiB TLS record: the steps downstream
 * (async generators, one promise each) then run 16x less often.
 */
const SLABS = 4;
const SLAB_BYTES = 256 * 1024;
/** A slab with less room than this is handed over; TLS delivers up to 16 KiB per read. */
const MIN_ROOM = 16 * 1024;
/** A reader that waits gets a slab early once it holds this much. */
const EARLY_BYTES = 64 * 1024;
const MAX_HEADER_BYTES = 64 * 1024;

export function httpsGet(url: string, options: HttpsGetOptions): Promise<HttpsGetResponse> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port || 443);

  const free: Buffer[] = Array.from({ length: SLABS }, () => Buffer.allocUnsafeSlow(SLAB_BYTES));
  /** The slab being filled, and how much of it is. */
  let current: { slab: Buffer; filled: number } | undefined;
  /** Body bytes received, not yet taken by the reader, with the slab they are in. */
  const queue: { bytes: Buffer; slab?: Buffer }[] = [];
  let header: Buffer | undefined = Buffer.alloc(0);
  let remaining = 0;
  let ended = false;
  let failure: Error | undefined;
  let paused = false;
  let wake: (() => void) | undefined;
  let settle: { resolve: (r: HttpsGetResponse) => void; reject: (e: Error) => void } | undefined;

  const release = (slab: Buffer | undefined) => {
    if (!slab) return;
    free.push(slab);
    if (paused) {
      paused = false;
      socket.resume();
    }
  };

  /** Where the next read goes: the current slab's free room (a fresh buffer if every slab is taken). */
  const nextBuffer = (): Buffer => {
    current ??= free.length > 0 ? { slab: free.pop()!, filled: 0 } : undefined;
    return current ? current.slab.subarray(current.filled) : Buffer.allocUnsafe(MIN_ROOM);
  };

  const handOver = () => {
    if (current && current.filled > 0)
      queue.push({ bytes: current.slab.subarray(0, current.filled), slab: current.slab });
    else if (current) free.push(current.slab);
    current = undefined;
    wake?.();
  };

  const onRead = (n: number, buffer: Buffer): boolean => {
    const bytes = buffer.subarray(0, n);
    const inSlab = current !== undefined && buffer.buffer === current.slab.buffer;
    if (header) {
      // Header bytes are copied out; the slab space is reused.
      onHeaderBytes(bytes);
      return true;
    }
    const take = Math.min(n, remaining);
    remaining -= take;
    if (remaining === 0) ended = true;
    if (inSlab) {
      current!.filled += take;
      if (
        ended ||
        current!.slab.length - current!.filled < MIN_ROOM ||
        (wake && current!.filled >= EARLY_BYTES)
      )
        handOver();
    } else if (take > 0) {
      queue.push({ bytes: Buffer.from(bytes.subarray(0, take)) });
      wake?.();
    }
    if (ended) {
      wake?.();
      return true;
    }
    if (!current && free.length === 0) {
      // Every slab waits for the reader: stop reading until one comes back.
      paused = true;
      return false;
    }
    return true;
  };

  const onHeaderBytes = (bytes: Buffer) => {
    const seen: Buffer = Buffer.concat([header!, bytes]);
    const end = seen.indexOf('\r\n\r\n');
    if (end < 0) {
      if (seen.length > MAX_HEADER_BYTES) fail(new Error('the response headers are too large'));
      header = seen;
      return;
    }
    header = undefined;
    const response = parseHead(seen.subarray(0, end).toString('latin1'));
    if (!response) {
      fail(new Error('the server did not answer with HTTP/1.1'));
      return;
    }
    const length = Number(response.headers['content-length']);
    remaining = Number.isSafeInteger(length) && length >= 0 ? length : 0;
    ended = remaining === 0;
    // What came with the headers is the start of the body (a copy: the concat above).
    const rest = seen.subarray(end + 4, end + 4 + remaining);
    if (rest.length > 0) {
      queue.push({ bytes: rest });
      remaining -= rest.length;
      if (remaining === 0) ended = true;
    }
    settle?.resolve({ ...response, body: body(), destroy: () => socket.destroy() });
    settle = undefined;
  };

  const fail = (error: Error) => {
    failure ??= error;
    socket.destroy();
    settle?.reject(error);
    settle = undefined;
    // The reader gets every byte that arrived, then the error: a resume starts
    // right after them.
    handOver();
  };

  // tls.connect takes `onread` (node >= 15.1, as net.connect does); @types/node's TLS options omit it.
  const connectOptions: tls.ConnectionOptions & { onread: OnReadOpts } = {
    host,
    port,
    ...(isIP(host) ? {} : { servername: host }),
    ca: options.ca,
    ALPNProtocols: ['http/1.1'],
    onread: { buffer: nextBuffer, callback: (n: number, buffer: Uint8Array) => onRead(n, buffer as Buffer) },
  };
  const socket = tls.connect(connectOptions);
  socket.setTimeout(options.idleTimeoutMs, () => fail(new Error('no data from the export server')));
  socket.once('secureConnect', () => {
    const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, `host: ${target.host}`];
    for (const [name, value] of Object.entries(options.headers)) lines.push(`${name}: ${value}`);
    lines.push('accept-encoding: identity', 'connection: close', '', '');
    socket.write(lines.join('\r\n'));
  });
  socket.on('error', fail);
  socket.once('close', () => {
    if (!ended) fail(failure ?? new Error('the connection closed before the response was complete'));
  });

  async function* body(): AsyncGenerator<Buffer> {
    let lent: Buffer | undefined;
    try {
      for (;;) {
        release(lent);
        lent = undefined;
        const next = queue.shift();
        if (next) {
          lent = next.slab;
          yield next.bytes;
          continue;
        }
        if (ended) return;
        if (failure) throw failure;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      socket.destroy();
    }
  }

  return new Promise((resolve, reject) => {
    if (failure) reject(failure);
    else settle = { resolve, reject };
  });
}

function parseHead(head: string): { status: number; headers: Record<string, string> } | undefined {
  const [statusLine, ...lines] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!status) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(status[1]), headers };
}
