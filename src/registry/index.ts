// The OCI distribution client: what the data path and the reconciler import.
export { RegistryClient, sha256Digest, type RegistryClientOptions, type StoredManifest } from './client.js';
export { DEFAULT_CHUNK_SIZE, type BlobUploadOptions, type BlobUploadResult } from './blob-upload.js';
export {
  credentialsFromDockerConfig,
  credentialsFromSecret,
  normalizeRegistryHost,
  type Credentials,
  type SecretLike,
} from './credentials.js';
export { isRegistryError, RegistryError, type RegistryErrorReason } from './errors.js';
export { parseRepository, type RepositoryAddress } from './repository.js';
export { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
export { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.js';
export {
  INDEX_MEDIA_TYPE,
  deleteReferrer,
  listReferrers,
  pushReferrer,
  referrersTag,
  type ReferrerDescriptor,
} from './referrers.js';
