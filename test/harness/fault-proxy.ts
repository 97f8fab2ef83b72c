// An HTTP(S) reverse proxy in front of the test registry that can misbehave on demand:
// answer a status (503 ...) or drop the connection, for the next N matching requests or
// for a while. It also keeps a log of every request (method, path, status, which kind of
// Authorization was sent - never its value), so a test can count requests.
//
// The Host header is passed through unchanged, so Distribution builds its Location
// headers for the proxy's address and clients stay behind the proxy.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  at: number;
  method: string;
  path: string;
  /** 0 for a dropped connection. */
  status: number;
  auth: 'none' | 'basic' | 'bearer' | 'other';
  /** Set when the proxy itself answered (a fault), not the registry. */
  injected: boolean;
  /** The registry's Location header, as passed back to the client (an upload session's). */
  location?: string;
}

export interface FaultMatch {
  method?: string;
  /** A substring of the request path (with query). */
  pathIncludes?: string;
}

export interface FaultScope extends FaultMatch {
  /** Apply to this many matching requests (default: unlimited while `forMs` runs). */
  times?: number;
  /** Apply for this long from now. */
  forMs?: number;
}

interface Fault extends FaultScope {
  kind: 'status' | 'drop';
  status: number;
  /** The answer's body (JSON) and extra headers; a registry-style error by default. */
  answer?: FaultAnswer;
  /** Drop only after this many bytes of the request body arrived (default 0). */
  afterBytes: number;
  until: number;
  left: number;
}

export interface FaultAnswer {
  body: unknown;
  headers?: Record<string, string>;
}

export interface FaultProxy {
  url: string;
  host: string;
  requests: ProxiedRequest[];
  /** Answer `status` instead of the registry. Give `times` and/or `forMs`. */
  respond(status: number, scope: FaultScope, answer?: FaultAnswer): void;
  /** Destroy the client connection (after `afterBytes` of request body, default 0). */
  drop(scope: FaultScope & { afterBytes?: number }): void;
  clear(): void;
  stop(): Promise<void>;
}

export interface FaultProxyOptions {
  /** Base URL of the real registry, e.g. http://127.0.0.1:5000 */
  upstream: string;
  /** Serve TLS with this certificate (and reach an https upstream trusting `caPem`). */
  tls?: { certPem: string; keyPem: string; caPem: string };
  /**
   * Reach an https upstream trusting `caPem`, presenting a client certificate if given (in
   * front of a kube-apiserver that knows its clients by certificate).
   */
  upstreamTls?: { caPem: string; certPem?: string; keyPem?: string };
  /** Other plain-HTTP upstreams by path prefix (e.g. the token server at /token). */
  routes?: { pathPrefix: string; upstream: string }[];
  /** The address to listen on (default 127.0.0.1): a real node's Pods reach the host at its end of their link. */
  address?: string;
}

function authKind(header: string | undefined): ProxiedRequest['auth'] {
  if (!header) return 'none';
  if (/^basic /i.test(header)) return 'basic';
  if (/^bearer /i.test(header)) return 'bearer';
  return 'other';
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  const requests: ProxiedRequest[] = [];
  let faults: Fault[] = [];
  const upstreamTls = options.upstreamTls
    ? {
        ca: options.upstreamTls.caPem,
        ...(options.upstreamTls.certPem
          ? { cert: options.upstreamTls.certPem, key: options.upstreamTls.keyPem }
          : {}),
      }
    : options.tls
      ? { ca: options.tls.caPem }
      : {};
  const agentOptions = { keepAlive: true, ...upstreamTls };
  const agent = upstream.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);

  function takeFault(req: http.IncomingMessage): Fault | undefined {
    const now = Date.now();
    faults = faults.filter((f) => f.left > 0 && f.until > now);
    const fault = faults.find(
      (f) =>
        (!f.method || f.method === req.method) &&
        (!f.pathIncludes || (req.url ?? '').includes(f.pathIncludes)),
    );
    if (fault) fault.left -= 1;
    return fault;
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const record: ProxiedRequest = {
      at: Date.now(),
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      status: 0,
      auth: authKind(req.headers.authorization),
      injected: false,
    };
    requests.push(record);
    const fault = takeFault(req);
    if (fault?.kind === 'drop') {
      record.injected = true;
      let seen = 0;
      const cut = () => {
        req.socket.destroy();
      };
      if (fault.afterBytes <= 0) return cut();
      req.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen >= fault.afterBytes) cut();
      });
      req.on('end', cut);
      return;
    }
    if (fault) {
      record.injected = true;
      record.status = fault.status;
      // Read the body first so the client sees the answer, not a reset.
      req.resume();
      req.on('end', () => {
        res.writeHead(fault.status, {
          'Content-Type': 'application/json',
          Connection: 'close',
          ...fault.answer?.headers,
        });
        res.end(
          JSON.stringify(
            fault.answer?.body ?? { errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] },
          ),
        );
      });
      return;
    }
    const route = options.routes?.find((r) => (req.url ?? '/').startsWith(r.pathPrefix));
    const target = route ? new URL(route.upstream) : upstream;
    const forward = (target.protocol === 'https:' ? https : http).request(
      {
        agent: route ? undefined : agent,
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        record.status = answer.statusCode ?? 0;
        record.location = answer.headers.location;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) forward.destroy();
    });
    req.pipe(forward);
  }

  const server = options.tls
    ? https.createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, handle)
    : http.createServer(handle);
  const address = options.address ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = `${address}:${port}`;

  function add(
    kind: Fault['kind'],
    status: number,
    scope: FaultScope,
    afterBytes = 0,
    answer?: FaultAnswer,
  ): void {
    if (scope.times === undefined && scope.forMs === undefined)
      throw new Error('a fault needs times or forMs');
    faults.push({
      ...scope,
      kind,
      status,
      afterBytes,
      ...(answer ? { answer } : {}),
      left: scope.times ?? Number.POSITIVE_INFINITY,
      until: scope.forMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + scope.forMs,
    });
  }

  return {
    url: `${options.tls ? 'https' : 'http'}://${host}`,
    host,
    requests,
    respond: (status, scope, answer) => add('status', status, scope, 0, answer),
    drop: (scope) => add('drop', 0, scope, scope.afterBytes),
    clear: () => {
      faults = [];
    },
    stop: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
