// Every registry failure becomes a RegistryError with a reason the reconciler can put in
// a condition, a `retryable` flag, and a message a person understands. Messages name the
// registry, the repository and the HTTP status; they never contain a credential or token.

export type RegistryErrorReason =
  /** 401 after we authenticated (wrong password, or no credentials where some are needed). */
  | 'RegistryUnauthorized'
  /** 403, or a token without the push/pull access asked for. */
  | 'RegistryForbidden'
  /** 5xx, 429, connection errors, timeouts: worth another try later. */
  | 'RegistryUnavailable'
  | 'RegistryNotFound'
  /** 405 on a delete: Distribution without storage.delete.enabled. */
  | 'RegistryDeleteDisabled'
  /** The registry stored other bytes than we sent, or a caller's expected digest differs. */
  | 'DigestMismatch'
  /** The registry's TLS certificate is not trusted (wrong CA bundle, name, expiry). */
  | 'RegistryCertificateInvalid'
  /** Any other 4xx, or an answer that breaks the protocol. */
  | 'RegistryRejected'
  /** The credentials Secret cannot be used (wrong type, bad JSON, no entry for the host). */
  | 'InvalidCredentialsSecret'
  /** The blob source (the caller's stream) failed; the upload was cancelled. */
  | 'UploadSourceFailed';

const RETRYABLE: ReadonlySet<RegistryErrorReason> = new Set(['RegistryUnavailable']);

export interface RegistryErrorDetails {
  status?: number;
  /** The registry's error code from the JSON body (e.g. BLOB_UPLOAD_INVALID). */
  code?: string;
  cause?: unknown;
}

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly reason: RegistryErrorReason;
  readonly retryable: boolean;
  readonly status?: number;
  readonly code?: string;

  constructor(reason: RegistryErrorReason, message: string, details: RegistryErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.reason = reason;
    this.retryable = RETRYABLE.has(reason);
    this.status = details.status;
    this.code = details.code;
  }
}

export function isRegistryError(err: unknown): err is RegistryError {
  return err instanceof RegistryError;
}

/** The reason for an HTTP status that the caller did not expect. */
export function reasonForStatus(status: number, method: string): RegistryErrorReason {
  if (status === 401) return 'RegistryUnauthorized';
  if (status === 403) return 'RegistryForbidden';
  if (status === 404) return 'RegistryNotFound';
  if (status === 405 && method === 'DELETE') return 'RegistryDeleteDisabled';
  if (status === 429 || status >= 500) return 'RegistryUnavailable';
  return 'RegistryRejected';
}

/** First error of an OCI error body ({errors: [{code, message}]}), if there is one. */
export function registryErrorCode(body: string): { code?: string; message?: string } {
  try {
    const parsed = JSON.parse(body) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = parsed.errors?.[0];
    return {
      code: typeof first?.code === 'string' ? first.code : undefined,
      message: typeof first?.message === 'string' ? first.message : undefined,
    };
  } catch {
    return {};
  }
}
