// The registry test bed itself: the real Distribution, driven by the real crane, with
// each auth variant, TLS, the fault proxy and the open-upload helper.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pack } from 'tar-stream';
import { craneFor, type Crane } from '../harness/crane.js';
import { startRegistry, type RegistryOptions, type TestRegistry } from '../harness/registry.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'registry-harness-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A small uncompressed layer tar with one random file; returns its path and the file's bytes. */
async function layerTar(name: string): Promise<{ file: string; content: Buffer }> {
  const content = randomBytes(64 * 1024);
  const tar = pack();
  tar.entry({ name: 'data/', type: 'directory', mode: 0o755 });
  tar.entry({ name: 'data/payload.bin', mode: 0o444, uid: 107, gid: 107 }, content);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  const file = path.join(work, `${name}.tar`);
  writeFileSync(file, Buffer.concat(chunks));
  return { file, content };
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Pushes with crane append, then reads it back three ways: manifest, config, layer blob. */
async function pushAndPull(registry: TestRegistry, crane: Crane, repo: string): Promise<void> {
  const { file, content } = await layerTar(repo.replace(/\//g, '-'));
  const ref = `${registry.host}/${repo}:v1`;
  const pushed = await crane.appendLayer(file, ref);
  expect(pushed).toContain(`${registry.host}/${repo}@sha256:`);

  const manifest = (await crane.manifest(ref)) as { layers: { digest: string }[] };
  expect(manifest.layers).toHaveLength(1);
  const config = (await crane.config(ref)) as { rootfs: { diff_ids: string[] } };
  const layer = await crane.blob(`${registry.host}/${repo}`, manifest.layers[0]!.digest);
  // crane append gzips the tar: the diff_id is the sha256 of the uncompressed tar.
  const { gunzipSync } = await import('node:zlib');
  const tarBytes = gunzipSync(layer);
  expect(config.rootfs.diff_ids).toEqual([sha256(tarBytes)]);
  expect(tarBytes.includes(content)).toBe(true);
  expect(await crane.digest(ref)).toBe(pushed.split('@')[1]);
}

describe.each<[string, RegistryOptions]>([
  ['anonymous', {}],
  ['basic auth', { auth: 'basic' }],
  ['token auth', { auth: 'token' }],
  ['TLS with basic auth', { tls: true, auth: 'basic' }],
])('test registry: %s', (_name, options) => {
  let registry: TestRegistry;
  let crane: Crane;
  beforeAll(async () => {
    registry = await startRegistry(options);
    crane = await craneFor(registry);
  });
  afterAll(async () => {
    crane?.cleanup();
    await registry?.stop();
  });

  it('takes a push from crane and gives the same image back', async () => {
    await pushAndPull(registry, crane, 'harness/app');
    expect(registry.openUploads()).toEqual([]);
    // Every request went through the fault proxy, and with auth, carried credentials.
    expect(registry.requests.length).toBeGreaterThan(3);
    if (options.auth === 'basic') expect(registry.requests.some((r) => r.auth === 'basic')).toBe(true);
    if (options.auth === 'token') {
      expect(registry.requests.some((r) => r.auth === 'bearer')).toBe(true);
      expect(registry.tokenServer!.requests.some((r) => r.status === 200 && r.user === 'tester')).toBe(true);
    }
  });

  if (options.auth) {
    it('refuses a wrong password and anonymous access', async () => {
      const wrong = await craneFor({ ...registry, password: 'not-the-password' });
      const anonymous = await craneFor({ ...registry, username: undefined, password: undefined });
      try {
        const ref = `${registry.host}/harness/app:v1`;
        const byWrong = await wrong.run(['manifest', ref]);
        expect(byWrong.code).not.toBe(0);
        expect(byWrong.stderr).toMatch(/401|UNAUTHORIZED|unauthorized/);
        const byAnonymous = await anonymous.run(['manifest', ref]);
        expect(byAnonymous.code).not.toBe(0);
        expect(byAnonymous.stderr).toMatch(/401|UNAUTHORIZED|unauthorized/);
      } finally {
        wrong.cleanup();
        anonymous.cleanup();
      }
    });
  }

  if (options.tls) {
    it('serves TLS itself, trusted only with the test CA', async () => {
      const direct = await craneFor({ ...registry, host: registry.directHost });
      const untrusting = await craneFor({ ...registry, host: registry.directHost, caPem: undefined });
      try {
        expect(await direct.digest(`${registry.directHost}/harness/app:v1`)).toMatch(/^sha256:/);
        const refused = await untrusting.run(['digest', `${registry.directHost}/harness/app:v1`]);
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toMatch(/certificate|x509/);
      } finally {
        direct.cleanup();
        untrusting.cleanup();
      }
    });
  }
});

describe('test registry faults and upload sessions', () => {
  let registry: TestRegistry;
  let crane: Crane;
  beforeAll(async () => {
    registry = await startRegistry();
    crane = await craneFor(registry);
    await pushAndPull(registry, crane, 'faults/app');
  });
  afterAll(async () => {
    crane?.cleanup();
    await registry?.stop();
  });
  afterEach(() => registry.faults!.clear());

  it('answers 503 while told to, then serves again', async () => {
    const ref = `${registry.host}/faults/app:v1`;
    registry.faults!.respond(503, { forMs: 60_000 });
    const before = registry.requests.length;
    const during = await crane.run(['manifest', ref]);
    expect(during.code).not.toBe(0);
    expect(during.stderr).toMatch(/503|UNAVAILABLE/);
    const injected = registry.requests.slice(before);
    expect(injected.length).toBeGreaterThan(0);
    expect(injected.every((r) => r.injected && r.status === 503)).toBe(true);

    registry.faults!.clear();
    expect((await crane.run(['manifest', ref])).code).toBe(0);
  });

  it('answers 503 to the next N matching requests only', async () => {
    const ref = `${registry.host}/faults/app:v1`;
    registry.faults!.respond(503, { times: 2, method: 'GET', pathIncludes: '/manifests/' });
    const before = registry.requests.length;
    // crane retries 503 itself, so it gets through after the two injected answers.
    expect((await crane.run(['manifest', ref])).code).toBe(0);
    const manifestGets = registry.requests.slice(before).filter((r) => r.path.includes('/manifests/'));
    expect(manifestGets.map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('drops connections on demand', async () => {
    const ref = `${registry.host}/faults/app:v1`;
    registry.faults!.drop({ forMs: 60_000 });
    const during = await crane.run(['manifest', ref]);
    expect(during.code).not.toBe(0);
    expect(during.stderr).toMatch(/EOF|reset|closed/i);
  });

  it('lists upload sessions that are left open', async () => {
    const start = await fetch(`${registry.url}/v2/faults/app/blobs/uploads/`, { method: 'POST' });
    expect(start.status).toBe(202);
    const open = registry.openUploads('faults/app');
    expect(open).toHaveLength(1);
    expect(open[0]).toBe(`faults/app/${start.headers.get('docker-upload-uuid')}`);
    expect(registry.openUploads('other/repo')).toEqual([]);

    const cancel = await fetch(new URL(start.headers.get('location')!, registry.url), { method: 'DELETE' });
    expect(cancel.status).toBe(204);
    expect(registry.openUploads()).toEqual([]);
  });
});

describe('test registry token lifetime', () => {
  it('refuses a token once its lifetime is over (despite Distribution leeway)', async () => {
    const registry = await startRegistry({ auth: 'token', tokenLifetimeSeconds: 2 });
    try {
      const basic = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
      const scope = 'repository:harness/app:pull';
      const answer = await fetch(`${registry.url}/token?service=serverimage-test-registry&scope=${scope}`, {
        headers: { Authorization: `Basic ${basic}` },
      });
      const { token, expires_in } = (await answer.json()) as { token: string; expires_in: number };
      expect(expires_in).toBe(2);
      const probe = () =>
        fetch(`${registry.url}/v2/harness/app/tags/list`, { headers: { Authorization: `Bearer ${token}` } });
      // 404: authorised, the repository just does not exist yet.
      expect((await probe()).status).toBe(404);
      await new Promise((r) => setTimeout(r, 3500));
      const late = await probe();
      expect(late.status).toBe(401);
      expect(late.headers.get('www-authenticate')).toContain('error="invalid_token"');
    } finally {
      await registry.stop();
    }
  });
});
