// The registry client against the real Distribution, read back by the real crane:
// chunked uploads, manifests, auth variants, TLS, faults and cancelled uploads.
import { createHash, randomBytes } from 'node:crypto';
import { craneFor, type Crane } from '../harness/crane.js';
import { startRegistry, type RegistryOptions, type TestRegistry } from '../harness/registry.js';
import { RegistryClient, RegistryError, type RegistryClientOptions } from '../../src/registry/index.js';

const MiB = 1024 * 1024;
const fast = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };

/** A deterministic-size source of random bytes, with its sha256 known once fully read. */
function randomSource(
  size: number,
  options: { pieceSize?: number; delayMs?: number; failAfter?: number } = {},
): { source: AsyncGenerator<Buffer>; digest: () => string } {
  const hash = createHash('sha256');
  let result = '';
  async function* generate(): AsyncGenerator<Buffer> {
    let sent = 0;
    while (sent < size) {
      if (options.failAfter !== undefined && sent >= options.failAfter)
        throw new Error('source broke on purpose');
      const piece = randomBytes(Math.min(options.pieceSize ?? MiB, size - sent));
      hash.update(piece);
      sent += piece.length;
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      yield piece;
    }
    result = `sha256:${hash.digest('hex')}`;
  }
  return { source: generate(), digest: () => result };
}

function clientFor(
  registry: TestRegistry,
  repo: string,
  extra: Partial<RegistryClientOptions> = {},
): RegistryClient {
  return new RegistryClient({
    repository: `${registry.host}/${repo}`,
    insecure: !registry.tls,
    caPem: registry.caPem,
    credentials: registry.username
      ? { username: registry.username, password: registry.password! }
      : undefined,
    retry: fast,
    ...extra,
  });
}

async function expectRegistryError(promise: Promise<unknown>, reason: string): Promise<RegistryError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  expect((err as RegistryError).reason).toBe(reason);
  return err as RegistryError;
}

/** Uploads a small image (config + one layer) and tags it; returns the manifest digest. */
async function pushSmallImage(
  client: RegistryClient,
  tag: string,
): Promise<{ digest: string; bytes: Buffer }> {
  const layer = randomBytes(4096);
  const uploadedLayer = await client.uploadBlob([layer]);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [uploadedLayer.digest] },
    }),
  );
  const uploadedConfig = await client.uploadBlobBytes(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        ...uploadedConfig,
        skipped: undefined,
      },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...uploadedLayer }],
    }),
  );
  const digest = await client.putManifest(tag, manifest, 'application/vnd.oci.image.manifest.v1+json');
  return { digest, bytes: manifest };
}

describe('registry client: anonymous registry', () => {
  let registry: TestRegistry;
  let crane: Crane;
  beforeAll(async () => {
    registry = await startRegistry();
    crane = await craneFor(registry);
  });
  afterAll(async () => {
    crane?.cleanup();
    await registry?.stop();
  });
  afterEach(() => registry.faults!.clear());

  it('uploads a 50 MiB blob in 8 MiB chunks that crane reads back identical', async () => {
    const client = clientFor(registry, 'client/big', { chunkSize: 8 * MiB });
    const { source, digest } = randomSource(50 * MiB, { pieceSize: 3 * MiB + 17 });
    const progress: number[] = [];
    const before = registry.requests.length;
    const result = await client.uploadBlob(source, { onProgress: (n) => progress.push(n) });
    expect(result).toEqual({ digest: digest(), size: 50 * MiB });
    expect(await crane.blobSha256(`${registry.host}/client/big`, result.digest)).toEqual(result);

    const patches = registry.requests.slice(before).filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(7);
    expect(progress).toEqual([8, 16, 24, 32, 40, 48, 50].map((m) => m * MiB));
    expect(registry.openUploads()).toEqual([]);
    await client.close();
  });

  it('skips a small blob the registry already has', async () => {
    const client = clientFor(registry, 'client/small');
    const bytes = randomBytes(1000);
    const first = await client.uploadBlobBytes(bytes);
    expect(first.skipped).toBe(false);
    expect(await client.blobExists(first.digest)).toBe(true);
    const before = registry.requests.length;
    const second = await client.uploadBlobBytes(bytes);
    expect(second).toEqual({ ...first, skipped: true });
    expect(registry.requests.slice(before).map((r) => r.method)).toEqual(['HEAD']);
    expect(await crane.blob(`${registry.host}/client/small`, first.digest)).toEqual(bytes);
    await client.close();
  });

  it('puts, gets and deletes manifests and tags', async () => {
    const client = clientFor(registry, 'client/manifests');
    const { digest, bytes } = await pushSmallImage(client, 'v1');
    expect(await crane.digest(`${registry.host}/client/manifests:v1`)).toBe(digest);
    expect(JSON.stringify(await crane.manifest(`${registry.host}/client/manifests:v1`))).toBe(
      bytes.toString(),
    );

    const byTag = await client.getManifest('v1');
    expect(byTag).toEqual({ digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', body: bytes });
    expect((await client.getManifest(digest)).digest).toBe(digest);

    await client.putManifest('v2', bytes, 'application/vnd.oci.image.manifest.v1+json');
    await client.deleteTag('v2');
    await expectRegistryError(client.getManifest('v2'), 'RegistryNotFound');
    expect((await client.getManifest('v1')).digest).toBe(digest);

    await client.deleteManifest(digest);
    await expectRegistryError(client.getManifest(digest), 'RegistryNotFound');
    expect((await crane.run(['manifest', `${registry.host}/client/manifests:v1`])).code).not.toBe(0);
    await client.close();
  });

  it('refuses a blob whose digest is not the expected one, and cancels the upload', async () => {
    const client = clientFor(registry, 'client/mismatch');
    const before = registry.requests.length;
    const { source } = randomSource(3 * MiB);
    const err = await expectRegistryError(
      client.uploadBlob(source, { expectedDigest: `sha256:${'0'.repeat(64)}` }),
      'DigestMismatch',
    );
    expect(err.retryable).toBe(false);
    expect(registry.requests.slice(before).some((r) => r.method === 'DELETE' && r.status === 204)).toBe(true);
    expect(registry.openUploads()).toEqual([]);
    await client.close();
  });

  it('retries while the registry answers 503 for a while, then succeeds', async () => {
    // Patient enough to outlast the outage: at least 2.5 s of backoff over 6 tries.
    const retry = { attempts: 6, baseDelayMs: 200, maxDelayMs: 2000 };
    const client = clientFor(registry, 'client/unavailable', { chunkSize: 2 * MiB, retry });
    registry.faults!.respond(503, { forMs: 1500 });
    const before = registry.requests.length;
    const { source, digest } = randomSource(5 * MiB);
    const result = await client.uploadBlob(source);
    expect(result.digest).toBe(digest());
    const injected = registry.requests.slice(before).filter((r) => r.injected);
    expect(injected.length).toBeGreaterThan(0);
    expect((await crane.blobSha256(`${registry.host}/client/unavailable`, result.digest)).digest).toBe(
      digest(),
    );
    await client.close();
  });

  it('resumes a chunk after 503s and a dropped connection mid-PATCH', async () => {
    const client = clientFor(registry, 'client/resume', { chunkSize: 4 * MiB });
    registry.faults!.respond(503, { times: 2, method: 'PATCH' });
    const { source, digest } = randomSource(10 * MiB);
    const before = registry.requests.length;
    const upload = client.uploadBlob(source, {
      onProgress: (n) => {
        // After the first chunk landed, break the next PATCH's connection halfway.
        if (n === 4 * MiB) registry.faults!.drop({ times: 1, method: 'PATCH', afterBytes: MiB });
      },
    });
    const result = await upload;
    expect(result).toEqual({ digest: digest(), size: 10 * MiB });
    const seen = registry.requests.slice(before);
    expect(seen.filter((r) => r.injected && r.method === 'PATCH')).toHaveLength(3);
    // Each failure was followed by a status GET on the upload before the chunk went again.
    expect(seen.filter((r) => r.method === 'GET' && r.path.includes('/blobs/uploads/')).length).toBe(3);
    expect((await crane.blobSha256(`${registry.host}/client/resume`, result.digest)).digest).toBe(digest());
    expect(registry.openUploads()).toEqual([]);
    await client.close();
  });

  it('gives up on a registry that keeps failing, cancels the upload, and says it is retryable', async () => {
    const client = clientFor(registry, 'client/down', { chunkSize: MiB });
    registry.faults!.respond(503, { times: 1000, method: 'PATCH' });
    const before = registry.requests.length;
    const err = await expectRegistryError(
      client.uploadBlob(randomSource(3 * MiB).source),
      'RegistryUnavailable',
    );
    expect(err.retryable).toBe(true);
    expect(err.message).toContain(`${registry.host}/client/down`);
    expect(err.message).toContain('503');
    const seen = registry.requests.slice(before);
    expect(seen.filter((r) => r.method === 'PATCH')).toHaveLength(fast.attempts);
    expect(seen.some((r) => r.method === 'DELETE' && r.status === 204)).toBe(true);
    expect(registry.openUploads()).toEqual([]);
    await client.close();
  });

  it('cancels the upload when the source breaks midway, leaving no session open', async () => {
    const client = clientFor(registry, 'client/interrupted', { chunkSize: 2 * MiB });
    const before = registry.requests.length;
    const err = await expectRegistryError(
      client.uploadBlob(randomSource(20 * MiB, { failAfter: 7 * MiB }).source),
      'UploadSourceFailed',
    );
    expect(err.message).toContain('source broke on purpose');
    const seen = registry.requests.slice(before);
    expect(seen.filter((r) => r.method === 'PATCH').length).toBeGreaterThan(0);
    expect(seen.at(-1)).toMatchObject({ method: 'DELETE', status: 204 });
    expect(registry.openUploads()).toEqual([]);
    await client.close();
  });
});

describe('registry client: registry variants', () => {
  const started: TestRegistry[] = [];
  const start = async (options: RegistryOptions) => {
    const registry = await startRegistry(options);
    started.push(registry);
    return registry;
  };
  afterAll(async () => {
    for (const registry of started) await registry.stop();
  });

  it('follows relative Location headers', async () => {
    const registry = await start({ relativeUrls: true });
    const client = clientFor(registry, 'client/relative', { chunkSize: MiB });
    const { source, digest } = randomSource(3 * MiB);
    expect((await client.uploadBlob(source)).digest).toBe(digest());
    await client.close();
  });

  it('names a registry without deletes', async () => {
    const registry = await start({ deleteEnabled: false });
    const client = clientFor(registry, 'client/nodelete');
    const { digest } = await pushSmallImage(client, 'v1');
    const err = await expectRegistryError(client.deleteManifest(digest), 'RegistryDeleteDisabled');
    expect(err.status).toBe(405);
    expect(err.message).toContain('does not allow deletes');
    await client.close();
  });

  it('uses basic auth, and a wrong password fails at once with few requests', async () => {
    const registry = await start({ auth: 'basic' });
    const crane = await craneFor(registry);
    const client = clientFor(registry, 'client/basic', { chunkSize: MiB });
    const { source, digest } = randomSource(3 * MiB);
    expect((await client.uploadBlob(source)).digest).toBe(digest());
    const { digest: manifestDigest } = await pushSmallImage(client, 'v1');
    expect(await crane.digest(`${registry.host}/client/basic:v1`)).toBe(manifestDigest);
    crane.cleanup();

    const before = registry.requests.length;
    const wrong = clientFor(registry, 'client/basic', {
      credentials: { username: 'tester', password: 'wrong' },
    });
    const err = await expectRegistryError(wrong.uploadBlob(randomSource(MiB).source), 'RegistryUnauthorized');
    expect(err.retryable).toBe(false);
    expect(err.message).not.toContain('wrong');
    expect(err.message).toContain('refused the username and password');
    // One anonymous try that draws the challenge, one with the (wrong) password. No retries.
    expect(registry.requests.length - before).toBe(2);

    const anonymous = clientFor(registry, 'client/basic', { credentials: undefined });
    await expectRegistryError(anonymous.getManifest('v1'), 'RegistryUnauthorized');
    await Promise.all([client.close(), wrong.close(), anonymous.close()]);
  });

  it('uses bearer tokens, and a wrong password fails at once with few requests', async () => {
    const registry = await start({ auth: 'token' });
    const client = clientFor(registry, 'client/token');
    const { digest } = await pushSmallImage(client, 'v1');
    expect((await client.getManifest('v1')).digest).toBe(digest);
    expect(client.tokenRequests).toBe(1);

    const registryBefore = registry.requests.filter((r) => !r.path.startsWith('/token')).length;
    const tokenBefore = registry.tokenServer!.requests.length;
    const wrong = clientFor(registry, 'client/token', {
      credentials: { username: 'tester', password: 'wrong' },
    });
    const err = await expectRegistryError(wrong.getManifest('v1'), 'RegistryUnauthorized');
    expect(err.message).toContain('token server refused');
    expect(registry.requests.filter((r) => !r.path.startsWith('/token')).length - registryBefore).toBe(1);
    expect(registry.tokenServer!.requests.length - tokenBefore).toBe(1);
    await Promise.all([client.close(), wrong.close()]);
  });

  it('renews a token that expires mid-upload when the registry refuses it', async () => {
    // The token server claims an hour but the registry refuses tokens after 2 s, so the
    // client only learns from a 401 in the middle of the upload; realm on another host.
    const registry = await start({
      auth: 'token',
      tokenLifetimeSeconds: 2,
      tokenAdvertisedExpiresIn: 3600,
      tokenRealm: 'own-host',
    });
    const client = clientFor(registry, 'client/renew', { chunkSize: MiB });
    const { source, digest } = randomSource(6 * MiB, { pieceSize: MiB / 2, delayMs: 500 });
    const result = await client.uploadBlob(source);
    expect(result.digest).toBe(digest());
    expect(client.tokenRequests).toBeGreaterThanOrEqual(2);
    expect(
      registry.requests.some((r) => r.method === 'PATCH' && r.status === 401 && r.auth === 'bearer'),
    ).toBe(true);
    expect(registry.openUploads()).toEqual([]);
    await client.close();
  });

  it('renews a short-lived token before it expires', async () => {
    // The client renews a fifth of the lifetime early: 1.2 s for 6 s. With 3 s (0.6 s), a
    // request sent just before the margin reached the registry after its token expired on a
    // loaded machine (load 10, seen once).
    const registry = await start({ auth: 'token', tokenLifetimeSeconds: 6 });
    const client = clientFor(registry, 'client/proactive', { chunkSize: MiB });
    const { source, digest } = randomSource(10 * MiB, { pieceSize: MiB / 2, delayMs: 500 });
    const before = registry.requests.length;
    expect((await client.uploadBlob(source)).digest).toBe(digest());
    expect(client.tokenRequests).toBeGreaterThanOrEqual(2);
    // Only the first request of all went without a token.
    const refused = registry.requests.slice(before).filter((r) => r.status === 401);
    expect(refused.every((r) => r.auth === 'none')).toBe(true);
    await client.close();
  });

  it('talks TLS with a custom CA, and refuses an untrusted certificate without retrying', async () => {
    const registry = await start({ tls: true, auth: 'basic' });
    const crane = await craneFor(registry);
    const client = clientFor(registry, 'client/tls', { chunkSize: MiB });
    const { source, digest } = randomSource(3 * MiB);
    const result = await client.uploadBlob(source);
    expect(result.digest).toBe(digest());
    expect((await crane.blobSha256(`${registry.host}/client/tls`, result.digest)).digest).toBe(digest());
    crane.cleanup();

    const untrusting = clientFor(registry, 'client/tls', { caPem: undefined });
    const before = registry.requests.length;
    const err = await expectRegistryError(untrusting.blobExists(result.digest), 'RegistryCertificateInvalid');
    expect(err.retryable).toBe(false);
    expect(registry.requests.length).toBe(before);
    await Promise.all([client.close(), untrusting.close()]);
  });
});
