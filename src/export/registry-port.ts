// What the data path needs from a registry: the part of src/registry's
// RegistryClient it calls (RegistryClient satisfies this interface). Kept as an
// interface so this folder depends on the client's shape, not on its HTTP.
import type { RegistryClient } from '../registry/index.js';

export interface BlobUploadResult {
  digest: string;
  size: number;
}

export interface StoredManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export interface RegistryPort {
  /** Streams a blob up (chunked), computing its digest; cancels the session on failure. */
  uploadBlob(
    source: AsyncIterable<Buffer>,
    options?: {
      expectedDigest?: string;
      /** Bytes per PATCH; the client holds two chunks (one on the wire, one filling). */
      chunkSize?: number;
      onSessionStarted?: (location: string) => void | Promise<void>;
      onSessionClosed?: () => void | Promise<void>;
    },
  ): Promise<BlobUploadResult>;
  /** HEAD: is the blob in the repository? */
  blobExists(digest: string): Promise<boolean>;
  /** Uploads a small blob (skipped, and so told, if the registry already has it). */
  uploadBlobBytes(bytes: Buffer): Promise<BlobUploadResult & { skipped?: boolean }>;
  /** Puts a manifest under a tag or digest; returns the digest the registry reports. */
  putManifest(reference: string, manifest: Buffer, mediaType: string): Promise<string>;
  getManifest(reference: string): Promise<StoredManifest>;
  /** Reads a blob whole, its digest checked (a chunk, a config: small blobs only). */
  getBlob(digest: string): Promise<Buffer>;
  /** `host[:port]/path` of the repository, for the image reference. */
  readonly repository: string;
}

/** The real client as a port; fails to compile if the two drift apart. */
export function registryPort(client: RegistryClient): RegistryPort {
  return client;
}
