// The simulated virt-exportserver: HTTPS on 127.0.0.1, one server for every Ready
// export. GET|HEAD /<namespace>/<export>/volumes/<volume>/disk.img serves the raw
// bytes like Go's http.ServeContent (Content-Length, Accept-Ranges, a single Range ->
// 206 + Content-Range, unsatisfiable -> 416; several ranges are answered with the
// whole body instead of multipart); disk.img.gz streams gzip with no length.
// Access needs the export's token in the x-kubevirt-export-token header or query
// parameter (else 401). Bytes stream from the volume's file: constant memory.
// Faults come from annotations on the export or its VM (annotations.ts).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import type { CertificateAuthority } from '../tls.js';
import { Ann, faultNumber, faultValue } from './annotations.js';
import type { Obj } from './api.js';
import type { ServedExport } from './export-controller.js';
import type { Logger } from './work-queue.js';

export const TOKEN_HEADER = 'x-kubevirt-export-token';

export interface ExportServerOptions {
  ca: CertificateAuthority;
  /** The Ready export of that name, if any. */
  lookup(namespace: string, name: string): ServedExport | undefined;
  /** The file holding a PVC's bytes. */
  fileOf(namespace: string, pvcName: string): string | undefined;
  /** Objects whose annotations carry faults for this export: the export, then its VM. */
  faultSources(served: ServedExport): Array<Obj | undefined>;
  /** Called on each request that will get body bytes (for the export-read VM change). */
  onRead?(served: ServedExport): void;
  log: Logger;
}

export interface ExportServer {
  /** https://127.0.0.1:PORT */
  url: string;
  port: number;
  /** The CA that signed the server's certificate (what links.internal.cert carries). */
  caPem: string;
  stop(): Promise<void>;
}

interface Limits {
  dropAfterBytes?: number;
  bytesPerSecond?: number;
}

type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/** One range of a Range header, as Go's parseRange reads it; undefined = serve everything. */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (!header) return undefined;
  if (!header.startsWith('bytes=')) return 'unsatisfiable';
  const specs = header
    .slice(6)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (specs.length !== 1) return undefined;
  const m = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (!m || (m[1] === '' && m[2] === '')) return 'unsatisfiable';
  if (m[1] === '') {
    const suffix = Math.min(Number(m[2]), size);
    if (suffix === 0) return 'unsatisfiable';
    return { start: size - suffix, end: size - 1 };
  }
  const start = Number(m[1]);
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (end < start) return 'unsatisfiable';
  return { start, end };
}

function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.destroyed) return reject(new Error('client gone'));
    res.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

/** Streams with the drop and slow faults: paced in 100 ms slices, cut after N bytes. */
async function sendLimited(res: ServerResponse, source: Readable, limits: Limits): Promise<void> {
  const started = Date.now();
  let sent = 0;
  const slice = limits.bytesPerSecond ? Math.max(1, Math.floor(limits.bytesPerSecond / 10)) : Infinity;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      let rest = chunk;
      while (rest.length > 0) {
        let piece = rest.subarray(0, Math.min(rest.length, slice));
        rest = rest.subarray(piece.length);
        if (limits.dropAfterBytes !== undefined && sent + piece.length >= limits.dropAfterBytes) {
          piece = piece.subarray(0, limits.dropAfterBytes - sent);
          if (piece.length > 0) await write(res, piece);
          res.socket?.destroy();
          return;
        }
        await write(res, piece);
        sent += piece.length;
        if (limits.bytesPerSecond) {
          const wait = started + (sent / limits.bytesPerSecond) * 1000 - Date.now();
          if (wait > 0) await sleep(wait);
        }
      }
    }
    res.end();
  } finally {
    source.destroy();
  }
}

export async function startExportServer(options: ExportServerOptions): Promise<ExportServer> {
  const serving = options.ca.issue({
    commonName: 'virt-exportserver',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    usage: 'server',
  });
  /** export key -> the fault-http-errors value seen and how many errors are left. */
  const httpErrors = new Map<string, { armed: string; remaining: number }>();

  function takeHttpError(served: ServedExport): number | undefined {
    const key = `${served.namespace}/${served.name}`;
    const sources = options.faultSources(served);
    const armed = faultValue(Ann.faultHttpErrors, ...sources);
    if (armed === undefined) {
      httpErrors.delete(key);
      return undefined;
    }
    let state = httpErrors.get(key);
    if (!state || state.armed !== armed) {
      state = { armed, remaining: Number(armed) || 0 };
      httpErrors.set(key, state);
    }
    if (state.remaining <= 0) return undefined;
    state.remaining--;
    return faultNumber(Ann.faultHttpStatus, ...sources) ?? 503;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    if (url.pathname === '/exportready') {
      res.writeHead(200).end('OK');
      return;
    }
    const m = /^\/([^/]+)\/([^/]+)\/volumes\/([^/]+)\/(disk\.img|disk\.img\.gz)$/.exec(url.pathname);
    if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end('not found\n');
      return;
    }
    const [, namespace, exportName, volume, format] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    const served = options.lookup(namespace, exportName);
    if (!served) {
      res.writeHead(404).end('no such export\n');
      return;
    }
    const token = req.headers[TOKEN_HEADER] ?? url.searchParams.get(TOKEN_HEADER);
    if (token !== served.token) {
      res.writeHead(401).end('Unauthorized\n');
      return;
    }
    const errorStatus = takeHttpError(served);
    if (errorStatus !== undefined) {
      res.writeHead(errorStatus).end('simulated failure\n');
      return;
    }
    const pvcName = served.volumes.get(volume);
    const file = pvcName ? options.fileOf(namespace, pvcName) : undefined;
    if (!file) {
      res.writeHead(404).end('no such volume\n');
      return;
    }
    const sources = options.faultSources(served);
    const limits: Limits = {
      dropAfterBytes: faultNumber(Ann.faultDropAfterBytes, ...sources),
      bytesPerSecond: faultNumber(Ann.faultBytesPerSecond, ...sources) || undefined,
    };
    const { size, mtime } = await stat(file);
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Last-Modified': mtime.toUTCString(),
    };
    let source: Readable;
    if (format === 'disk.img') {
      headers['Accept-Ranges'] = 'bytes';
      const range = parseRange(req.headers.range, size);
      if (range === 'unsatisfiable') {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end('invalid range\n');
        return;
      }
      const { start, end } = range ?? { start: 0, end: size - 1 };
      headers['Content-Length'] = Math.max(0, end - start + 1);
      if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      res.writeHead(range ? 206 : 200, headers);
      if (req.method === 'HEAD' || size === 0) {
        res.end();
        return;
      }
      source = createReadStream(file, { start, end, highWaterMark: 1024 * 1024 });
    } else {
      res.writeHead(200, headers);
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      source = createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(zlib.createGzip({ level: 1 }));
    }
    options.onRead?.(served);
    if (limits.dropAfterBytes === undefined && limits.bytesPerSecond === undefined) {
      await pipeline(source, res);
    } else {
      await sendLimited(res, source, limits);
    }
  }

  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    handle(req, res).catch((err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE')
        options.log('export server', err);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caPem: options.ca.certPem,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
