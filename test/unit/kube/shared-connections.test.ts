// shareConnections (src/kube/shared-connections.ts) on the pinned client-node: API calls
// through one KubeConfig reuse a pool's TLS connections, where the library alone opens one
// per call. (Calls one after the other take turns on two: undici opens a second while the
// first still finishes its answer.)
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import { shareConnections } from '../../../src/kube/shared-connections.js';
import { createCertificateAuthority } from '../../harness/tls.js';

const ca = createCertificateAuthority();
const leaf = ca.issue({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server' });
const client = ca.issue({ commonName: 'admin', organization: 'system:masters', usage: 'client' });

let server: https.Server;
let connections = 0;

beforeAll(async () => {
  server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem, ca: ca.certPem }, (_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"major":"1","minor":"34"}'),
  );
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  connections = 0;
});

function kubeConfig(caPem = ca.certPem): KubeConfig {
  const kc = new KubeConfig();
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  kc.loadFromOptions({
    clusters: [
      {
        name: 'c',
        server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
        caData: b64(caPem),
      },
    ],
    users: [{ name: 'u', certData: b64(client.certPem), keyData: b64(client.keyPem) }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

async function calls(kc: KubeConfig, n: number): Promise<void> {
  const api = kc.makeApiClient(VersionApi);
  for (let i = 0; i < n; i++) expect((await api.getCode()).minor).toBe('34');
}

describe('shareConnections', () => {
  it('sends API calls through the connections of one pool', async () => {
    const kc = shareConnections(kubeConfig());
    await calls(kc, 8);
    expect(connections).toBeLessThanOrEqual(2);
  });

  it('is needed: client-node 2.0.1 alone opens a connection per call (drop the wrap once it does not)', async () => {
    await calls(kubeConfig(), 3);
    expect(connections).toBe(3);
  });

  it('opens a new connection once the TLS settings change, and is idempotent', async () => {
    const kc = shareConnections(shareConnections(kubeConfig()));
    await calls(kc, 4);
    const before = connections;
    expect(before).toBeLessThanOrEqual(2);
    // The same CA written differently, as a renewed bundle would be: new settings.
    kc.clusters = kc.clusters.map((c) => ({
      ...c,
      caData: Buffer.from(`${ca.certPem}\n`).toString('base64'),
    }));
    await calls(kc, 4);
    expect(connections - before).toBeGreaterThanOrEqual(1);
    expect(connections - before).toBeLessThanOrEqual(2);
  });
});
