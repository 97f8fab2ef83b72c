// The OCI distribution client for one repository: blobs (exists, chunked upload, small
// upload) and manifests (put, get, delete). Idempotent requests are retried on 5xx and
// connection errors; the chunked upload resumes chunk by chunk (blob-upload.ts).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Authenticator } from './authenticator.js';
import {
  cancelUpload,
  uploadBlobChunked,
  type BlobUploadOptions,
  type BlobUploadResult,
} from './blob-upload.js';
import type { Credentials } from './credentials.js';
import { RegistryError } from './errors.js';
import { header, HttpTransport } from './http-transport.js';
import type { Logger } from '../logger.js';
import { RegistrySession } from './registry-session.js';
import { parseRepository } from './repository.js';
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from './retry.js';
import { resolveLocation, withDigest } from './upload-location.js';

export interface RegistryClientOptions {
  /** `host[:port]/path/name`, e.g. registry.example.com/vm-images/web-01 */
  repository: string;
  credentials?: Credentials;
  /** PEM CA bundle trusted in addition to the public roots. */
  caPem?: string;
  /** Plain HTTP (labs and tests only). */
  insecure?: boolean;
  /** Nothing logged by the registry client carries a credential or a token. */
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  /** Bytes per PATCH in uploadBlob (default 16 MiB). */
  chunkSize?: number;
  /** Response timeout per request (default 120 s). */
  timeoutMs?: number;
}

export interface StoredManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

/** What getManifest accepts: OCI and Docker manifests and indexes. */
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export const sha256Digest = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export class RegistryClient {
  /** `host[:port]/name` as given. */
  readonly repository: string;
  /** host[:port] */
  readonly host: string;
  /** Repository name inside the registry. */
  readonly name: string;
  private readonly session: RegistrySession;
  private readonly transport: HttpTransport;
  private readonly auth: Authenticator;
  private readonly retry: RetryPolicy;
  private readonly origin: string;

  constructor(private readonly options: RegistryClientOptions) {
    const address = parseRepository(options.repository, options.insecure);
    this.repository = `${address.host}/${address.name}`;
    this.host = address.host;
    this.name = address.name;
    this.origin = address.origin;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.transport = new HttpTransport({ caPem: options.caPem, timeoutMs: options.timeoutMs });
    this.auth = new Authenticator({
      origin: address.origin,
      repository: address.name,
      credentials: options.credentials,
      transport: this.transport,
      logger: options.logger,
      insecure: Boolean(options.insecure),
    });
    this.session = new RegistrySession(
      address.origin,
      this.repository,
      this.transport,
      this.auth,
      options.logger,
    );
  }

  /** Bearer tokens fetched so far (to observe renewal). */
  get tokenRequests(): number {
    return this.auth.tokenRequests;
  }

  async blobExists(digest: string): Promise<boolean> {
    const answer = await this.idempotent(() =>
      this.session.exchange({
        method: 'HEAD',
        url: `${this.origin}/v2/${this.name}/blobs/${digest}`,
        expect: [200, 404],
        what: `HEAD blob ${digest}`,
      }),
    );
    return answer.status === 200;
  }

  /**
   * Streams a blob up in chunks, computing its sha256 on the way. On failure the upload
   * session is cancelled and a RegistryError is thrown.
   */
  uploadBlob(
    source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array> | Readable,
    options: BlobUploadOptions = {},
  ): Promise<BlobUploadResult> {
    return uploadBlobChunked(
      {
        session: this.session,
        name: this.name,
        retry: this.retry,
        logger: this.options.logger,
        blobExists: (digest) => this.blobExists(digest),
      },
      source as AsyncIterable<Buffer | Uint8Array>,
      { chunkSize: this.options.chunkSize, ...options },
    );
  }

  /**
   * Proves that a push is allowed, leaving nothing behind: authenticates (a bearer token
   * with push scope when the registry challenges for one), opens a blob upload session
   * and cancels it. Throws the RegistryError of the first step that fails.
   */
  async checkPushAccess(): Promise<void> {
    const started = await this.idempotent(() =>
      this.session.exchange({
        method: 'POST',
        url: `${this.origin}/v2/${this.name}/blobs/uploads/`,
        headers: { 'content-length': '0' },
        expect: [202],
        what: 'POST start blob upload (push check)',
      }),
    );
    await this.cancelUploadSession(resolveLocation(header(started, 'location'), started.url));
  }

  /**
   * Cancels an upload session by its Location (one left open by a killed process, or
   * one whose cancel failed earlier). Resolves once the registry confirms it gone (or
   * never had it); throws when that cannot be confirmed, so the caller keeps it recorded.
   */
  cancelUploadSession(location: string): Promise<void> {
    return cancelUpload(
      {
        session: this.session,
        name: this.name,
        retry: this.retry,
        logger: this.options.logger,
        blobExists: (digest) => this.blobExists(digest),
      },
      location,
      { strict: true },
    );
  }

  /** Uploads a small blob (an image config) in one PUT, unless the registry has it already. */
  async uploadBlobBytes(bytes: Buffer): Promise<BlobUploadResult & { skipped: boolean }> {
    const digest = sha256Digest(bytes);
    if (await this.blobExists(digest)) return { digest, size: bytes.length, skipped: true };
    await this.idempotent(async () => {
      const started = await this.session.exchange({
        method: 'POST',
        url: `${this.origin}/v2/${this.name}/blobs/uploads/`,
        headers: { 'content-length': '0' },
        expect: [202],
        what: 'POST start blob upload',
      });
      const location = resolveLocation(header(started, 'location'), started.url);
      try {
        await this.session.exchange({
          method: 'PUT',
          url: withDigest(location, digest),
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
          body: bytes,
          expect: [201, 204],
          what: `PUT blob ${digest}`,
        });
      } catch (err) {
        await this.session
          .exchange({
            method: 'DELETE',
            url: location,
            expect: [200, 202, 204, 404],
            what: 'DELETE cancel blob upload',
          })
          .catch(() => undefined);
        throw err;
      }
    });
    return { digest, size: bytes.length, skipped: false };
  }

  /**
   * Puts a manifest under a tag or digest. `manifest` as bytes is sent as is (its digest
   * is what gets stored); an object is serialised with JSON.stringify. Returns the digest,
   * checked against the registry's Docker-Content-Digest.
   */
  async putManifest(reference: string, manifest: Buffer | object, mediaType: string): Promise<string> {
    const body = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
    const digest = sha256Digest(body);
    const answer = await this.idempotent(() =>
      this.session.exchange({
        method: 'PUT',
        url: `${this.origin}/v2/${this.name}/manifests/${reference}`,
        headers: { 'content-type': mediaType, 'content-length': String(body.length) },
        body,
        expect: [200, 201, 202],
        what: `PUT manifest ${reference}`,
      }),
    );
    const stored = header(answer, 'docker-content-digest');
    if (stored && stored !== digest) {
      throw new RegistryError(
        'DigestMismatch',
        `PUT manifest ${reference} (${this.repository}): the registry reports ${stored}, we sent ${digest}`,
      );
    }
    return digest;
  }

  /** Reads a manifest by tag or digest; its digest is computed from the bytes and checked. */
  async getManifest(reference: string): Promise<StoredManifest> {
    const answer = await this.idempotent(() =>
      this.session.exchange({
        method: 'GET',
        url: `${this.origin}/v2/${this.name}/manifests/${reference}`,
        headers: { accept: MANIFEST_ACCEPT },
        expect: [200],
        what: `GET manifest ${reference}`,
      }),
    );
    const digest = sha256Digest(answer.body);
    const claimed = header(answer, 'docker-content-digest');
    const expected = reference.startsWith('sha256:')
      ? reference
      : claimed?.startsWith('sha256:')
        ? claimed
        : undefined;
    if (expected && expected !== digest) {
      throw new RegistryError(
        'DigestMismatch',
        `GET manifest ${reference} (${this.repository}): the bytes have digest ${digest}, expected ${expected}`,
      );
    }
    const contentType = header(answer, 'content-type')?.split(';')[0]?.trim();
    let mediaType = contentType ?? '';
    if (!mediaType || mediaType === 'application/json') {
      try {
        mediaType =
          (JSON.parse(answer.body.toString('utf8')) as { mediaType?: string }).mediaType ?? mediaType;
      } catch {
        // keep the header's type
      }
    }
    return { digest, mediaType, body: answer.body };
  }

  /**
   * Puts a manifest that has a `subject` (OCI 1.1): the digest, and whether the registry
   * says it indexed the subject itself (the OCI-Subject header). When it does not, the
   * caller keeps the referrers tag (referrers.ts).
   */
  async putManifestWithSubject(
    reference: string,
    manifest: Buffer,
    mediaType: string,
  ): Promise<{ digest: string; subjectIndexed: boolean }> {
    const digest = sha256Digest(manifest);
    const answer = await this.idempotent(() =>
      this.session.exchange({
        method: 'PUT',
        url: `${this.origin}/v2/${this.name}/manifests/${reference}`,
        headers: { 'content-type': mediaType, 'content-length': String(manifest.length) },
        body: manifest,
        expect: [200, 201, 202],
        what: `PUT manifest ${reference}`,
      }),
    );
    return { digest, subjectIndexed: header(answer, 'oci-subject') !== undefined };
  }

  /**
   * The referrers API (OCI 1.1): the image index listing the manifests whose subject is
   * `digest`, or undefined when the registry does not serve the API (404, as Distribution).
   */
  async referrersIndex(digest: string, artifactType?: string): Promise<Buffer | undefined> {
    const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
    const answer = await this.idempotent(() =>
      this.session.exchange({
        method: 'GET',
        url: `${this.origin}/v2/${this.name}/referrers/${digest}${query}`,
        headers: { accept: 'application/vnd.oci.image.index.v1+json' },
        expect: [200, 404],
        what: `GET referrers of ${digest}`,
      }),
    );
    if (answer.status === 404) return undefined;
    const type = header(answer, 'content-type')?.split(';')[0]?.trim();
    return type === 'application/vnd.oci.image.index.v1+json' ? answer.body : undefined;
  }

  /** Reads a small blob whole (an artifact's layer), checking its digest. */
  async getBlob(digest: string): Promise<Buffer> {
    const answer = await this.idempotent(() =>
      this.session.exchange({
        method: 'GET',
        url: `${this.origin}/v2/${this.name}/blobs/${digest}`,
        expect: [200],
        what: `GET blob ${digest}`,
      }),
    );
    const got = sha256Digest(answer.body);
    if (got !== digest) {
      throw new RegistryError(
        'DigestMismatch',
        `GET blob ${digest} (${this.repository}): the bytes have digest ${got}`,
      );
    }
    return answer.body;
  }

  /** Deletes a manifest (and so every tag on it) by digest. */
  async deleteManifest(digest: string): Promise<void> {
    if (!digest.startsWith('sha256:')) throw new Error(`deleteManifest needs a digest, got "${digest}"`);
    await this.deleteReference(digest);
  }

  /** Deletes one tag (OCI distribution-spec; Distribution v3 supports it). */
  async deleteTag(tag: string): Promise<void> {
    if (tag.includes(':')) throw new Error(`deleteTag needs a tag, got "${tag}"`);
    await this.deleteReference(tag);
  }

  /** Releases the connection pool. */
  close(): Promise<void> {
    return this.transport.close();
  }

  private async deleteReference(reference: string): Promise<void> {
    await this.idempotent(() =>
      this.session.exchange({
        method: 'DELETE',
        url: `${this.origin}/v2/${this.name}/manifests/${reference}`,
        expect: [200, 202, 204],
        what: `DELETE manifest ${reference}`,
      }),
    );
  }

  private idempotent<T>(operation: () => Promise<T>): Promise<T> {
    return withRetries(this.retry, operation, (err, attempt, delayMs) =>
      this.options.logger?.warn(
        {
          registry: this.repository,
          attempt,
          delayMs,
          error: err instanceof Error ? err.message : String(err),
        },
        'registry request failed; retrying',
      ),
    );
  }
}
