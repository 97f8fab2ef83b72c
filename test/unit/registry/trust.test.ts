// trustingAlso (src/registry/trust.ts): one SecureContext per CA bundle, shared by every
// client, and a registry client with a bundle still verifies against it.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { RegistryClient } from '../../../src/registry/index.js';
import { trustingAlso } from '../../../src/registry/trust.js';
import { createCertificateAuthority } from '../../harness/tls.js';

describe('trustingAlso', () => {
  const ca = createCertificateAuthority();
  const other = createCertificateAuthority();

  it('gives every client of one bundle the same context', () => {
    expect(trustingAlso(ca.certPem)).toBe(trustingAlso(ca.certPem));
    expect(trustingAlso(other.certPem)).not.toBe(trustingAlso(ca.certPem));
  });

  it('keeps a bounded number of bundles, the most recently used', () => {
    const first = trustingAlso(ca.certPem);
    // Other bundles (the same certificate, written differently) push it out.
    for (let i = 1; i <= 16; i++) trustingAlso(`${other.certPem}${'\n'.repeat(i)}`);
    expect(trustingAlso(ca.certPem)).not.toBe(first);
  });

  it('is what a client with the bundle verifies the registry with, over connections', async () => {
    const leaf = ca.issue({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server' });
    let connections = 0;
    const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) =>
      res.writeHead(404, { 'content-length': '0', connection: 'close' }).end(),
    );
    server.on('secureConnection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const repository = `127.0.0.1:${(server.address() as AddressInfo).port}/vm/web`;
    const trusting = new RegistryClient({ repository, caPem: ca.certPem });
    const untrusting = new RegistryClient({ repository, caPem: other.certPem, retry: { attempts: 1 } });
    try {
      // Two exchanges on two connections (the server closes each), both verified.
      expect(await trusting.blobExists(`sha256:${'a'.repeat(64)}`)).toBe(false);
      expect(await trusting.blobExists(`sha256:${'b'.repeat(64)}`)).toBe(false);
      expect(connections).toBe(2);
      await expect(untrusting.blobExists(`sha256:${'a'.repeat(64)}`)).rejects.toThrow(/not trusted/);
    } finally {
      await Promise.all([trusting.close(), untrusting.close()]);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
