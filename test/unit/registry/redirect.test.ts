// Credentials never follow a redirect to another host (oras-go's GHSA-jxpm-75mh-9fp7):
// a registry on one loopback port redirects a blob HEAD to a "CDN" on another port.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { RegistryClient } from '../../../src/registry/index.js';
import { createCertificateAuthority } from '../../harness/tls.js';

interface Seen {
  method: string;
  url: string;
  authorization?: string;
}

async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { seen, host, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('redirects', () => {
  it('follows a blob redirect to another host without the Authorization header', async () => {
    const cdn = await serve((_req, res) => res.writeHead(200, { 'content-length': '0' }).end());
    const registry = await serve((req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end();
      } else if (req.url!.startsWith('/v2/vm/web/blobs/')) {
        res.writeHead(307, { location: `http://${cdn.host}/storage/blob?sig=abc` }).end();
      } else {
        res.writeHead(404).end();
      }
    });
    const client = new RegistryClient({
      repository: `${registry.host}/vm/web`,
      insecure: true,
      credentials: { username: 'u', password: 'p' },
    });
    try {
      expect(await client.blobExists(`sha256:${'a'.repeat(64)}`)).toBe(true);
      expect(registry.seen.map((s) => Boolean(s.authorization))).toEqual([false, true]);
      expect(cdn.seen).toEqual([{ method: 'HEAD', url: '/storage/blob?sig=abc', authorization: undefined }]);
    } finally {
      await client.close();
      await Promise.all([registry.close(), cdn.close()]);
    }
  });

  it('does not send credentials to a plain-HTTP token realm of an HTTPS registry', async () => {
    const realm = await serve((_req, res) => res.writeHead(200).end('{"token":"t"}'));
    const ca = createCertificateAuthority();
    const leaf = ca.issue({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server' });
    const registry = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) =>
      res
        .writeHead(401, { 'www-authenticate': `Bearer realm="http://${realm.host}/token",service="s"` })
        .end(),
    );
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    const client = new RegistryClient({
      repository: `127.0.0.1:${(registry.address() as AddressInfo).port}/vm/web`,
      caPem: ca.certPem,
      credentials: { username: 'u', password: 'p' },
    });
    try {
      await expect(client.getManifest('v1')).rejects.toThrow('not HTTPS; refusing to send credentials');
      expect(realm.seen).toEqual([]);
    } finally {
      await client.close();
      await realm.close();
      await new Promise<void>((resolve) => registry.close(() => resolve()));
    }
  });
});
