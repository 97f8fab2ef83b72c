// A TCP proxy in front of one real virt-exportserver: what the export's Service is in a
// cluster (it stays while the server behind it is replaced), plus the network faults a
// test asks for. It forwards bytes and never
// terminates TLS, so a client sees KubeVirt's own TLS and HTTP: Go's crypto/tls (its
// certificate, TLS versions, record sizes), ALPN choosing h2 or http/1.1, and Go's
// net/http framing (ServeContent's Range answers, chunked gzip without a length).
// A TLS-terminating proxy would have shown the client Node's TLS and ALPN instead.
//
// Faults are decided when a connection opens (faultsFor) and work on the bytes that
// flow from the server, as a real network's would:
//   dropAfterBytes  the connection is cut after that many bytes from the server (TLS
//                   bytes on the wire: the handshake, HTTP headers and record framing
//                   count, so the client gets a little less body than that)
//   bytesPerSecond  the server's bytes are paced to that rate
//   httpStatus      the proxy answers the connection itself: TLS with the server's own
//                   certificate, HTTP/1.1 (ALPN offers only that), this status, then close
// With `Connection: close` clients (the operator, testing.ts's download) a connection is
// one request, so "the next K requests" and "the next K connections" are the same.
import net from 'node:net';
import { STATUS_CODES } from 'node:http';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KeyPair } from '../tls.js';

export interface ConnectionFaults {
  dropAfterBytes?: number;
  bytesPerSecond?: number;
  httpStatus?: number;
}

export interface ExportProxyOptions {
  /**
   * The server's address now; undefined while there is none (the connection is refused).
   * May be looked up (a Service's ClusterIP through cluster DNS).
   */
  upstream(): Upstream | undefined | Promise<Upstream | undefined>;
  /**
   * The server's certificate and key, for the answers the proxy gives itself (httpStatus);
   * a function when the server behind changes its certificate (a real exporter Pod's).
   */
  keyPair: KeyPair | (() => KeyPair | undefined | Promise<KeyPair | undefined>);
  /** Where to listen; default 127.0.0.1 and any free port (the real-controller bed: a Service's IP, 443). */
  listen?: { host: string; port: number };
  /** Asked once per new connection. */
  faultsFor(): ConnectionFaults;
  /**
   * Called once per connection that carried more than READ_BYTES from the server: more
   * than a TLS handshake and an error answer, so the response has a body being read.
   */
  onRead?(): void;
}

type Upstream = { host: string; port: number };

export interface ExportProxy {
  port: number;
  stop(): Promise<void>;
}

/** A TLS 1.3 handshake with one RSA certificate plus a short answer is well under this. */
export const READ_BYTES = 16 * 1024;

function write(socket: net.Socket, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return reject(new Error('client gone'));
    socket.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

/** Relays server -> client paced in 100 ms slices and/or cut after N bytes. */
async function relayLimited(
  from: net.Socket,
  to: net.Socket,
  faults: ConnectionFaults,
  onBytes: (n: number) => void,
): Promise<void> {
  const started = Date.now();
  const rate = faults.bytesPerSecond;
  const slice = rate ? Math.max(1, Math.floor(rate / 10)) : Infinity;
  let sent = 0;
  for await (const chunk of from as AsyncIterable<Buffer>) {
    onBytes(chunk.length);
    let rest = chunk;
    while (rest.length > 0) {
      let piece = rest.subarray(0, Math.min(rest.length, slice));
      rest = rest.subarray(piece.length);
      if (faults.dropAfterBytes !== undefined && sent + piece.length >= faults.dropAfterBytes) {
        piece = piece.subarray(0, faults.dropAfterBytes - sent);
        if (piece.length > 0) await write(to, piece);
        to.destroy();
        from.destroy();
        return;
      }
      await write(to, piece);
      sent += piece.length;
      if (rate) {
        const wait = started + (sent / rate) * 1000 - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }
  }
  to.end();
}

/** The injected error: read the request head, answer `status`, close. */
function answerWith(client: net.Socket, status: number, context: tls.SecureContext): void {
  const secure = new tls.TLSSocket(client, {
    isServer: true,
    secureContext: context,
    ALPNProtocols: ['http/1.1'],
  });
  let head = '';
  secure.on('data', (chunk: Buffer) => {
    head += chunk.toString('latin1');
    if (!head.includes('\r\n\r\n')) return;
    secure.removeAllListeners('data');
    const body = 'injected fault\n';
    secure.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
        `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  });
  secure.on('error', () => client.destroy());
}

export async function startExportProxy(options: ExportProxyOptions): Promise<ExportProxy> {
  const contextOf = (k: KeyPair) => tls.createSecureContext({ cert: k.certPem, key: k.keyPem });
  const fixed = typeof options.keyPair === 'function' ? undefined : contextOf(options.keyPair);
  const context = async (): Promise<tls.SecureContext | undefined> => {
    if (fixed) return fixed;
    const keyPair = await (options.keyPair as () => KeyPair | undefined | Promise<KeyPair | undefined>)();
    return keyPair && contextOf(keyPair);
  };
  const open = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  };

  // The client's bytes wait in the kernel (pauseOnConnect: nothing read yet) while the
  // upstream is looked up; pipe() or the TLS answer reads them.
  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    connect(client).catch(() => client.destroy());
  });
  const connect = async (client: net.Socket) => {
    track(client);
    client.on('error', () => client.destroy());
    const target = await options.upstream();
    // A Service without a ready Pod: nothing to talk to.
    if (target === undefined) return void client.resetAndDestroy();
    const faults = options.faultsFor();
    const errorContext = faults.httpStatus === undefined ? undefined : await context();
    if (faults.httpStatus !== undefined && errorContext)
      return void answerWith(client, faults.httpStatus, errorContext);
    if (client.destroyed) return;

    const upstream = net.connect(target.port, target.host);
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    let seen = 0;
    const count = (n: number) => {
      if (seen > READ_BYTES) return;
      seen += n;
      if (seen > READ_BYTES) options.onRead?.();
    };
    client.pipe(upstream);
    if (faults.dropAfterBytes === undefined && !faults.bytesPerSecond) {
      upstream.on('data', (chunk: Buffer) => count(chunk.length));
      upstream.pipe(client);
    } else {
      relayLimited(upstream, client, faults, count).catch(() => client.destroy());
    }
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen?.port ?? 0, options.listen?.host ?? '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
