// The operator's HTTP endpoints: /healthz (the process serves), /readyz (it can do its
// job: informers synced, or standing by for leadership), /metrics (Prometheus).
import http from 'node:http';
import type { Registry } from 'prom-client';

export interface Endpoints {
  ready?: () => boolean;
  metrics?: Registry;
}

/** ":8080" -> all interfaces, "127.0.0.1:8080" -> that one; "0" disables. */
export function parseBindAddress(address: string): { host?: string; port: number } | undefined {
  if (address === '0' || address === '') return undefined;
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`not a host:port: "${address}"`);
  return { host: address.slice(0, colon) || undefined, port };
}

export async function serveEndpoints(
  address: string,
  endpoints: Endpoints,
): Promise<http.Server | undefined> {
  const bind = parseBindAddress(address);
  if (!bind) return undefined;
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type }).end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return reply(200, 'ok\n');
    if (path === '/readyz' && endpoints.ready) {
      return endpoints.ready() ? reply(200, 'ok\n') : reply(503, 'not ready\n');
    }
    if (path === '/metrics' && endpoints.metrics) {
      const metrics = endpoints.metrics;
      void metrics.metrics().then(
        (text) => reply(200, text, metrics.contentType),
        (err: unknown) => reply(500, String(err)),
      );
      return;
    }
    reply(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => resolve());
  });
  return server;
}
