// A failed Kubernetes API call as a person reads it: what the operator was doing and what
// the API server said ("creating Secret prod/x: secrets is forbidden: User ... cannot
// create ..."), instead of client-node's "HTTP-Code: 403 Message: ... Headers: ...". The
// reconciler shows it in the Ready condition when a phase throws.
import { describeClientError } from './client-error.js';
import { apiStatusCode } from './errors.js';

export class ApiCallError extends Error {
  override name = 'ApiError';
  /** The condition reason: one word for every failed API call. */
  readonly reason = 'ApiError';
  readonly status?: number;

  constructor(what: string, cause: unknown) {
    super(`${what}: ${apiServerMessage(cause)}`, { cause });
    this.status = apiStatusCode(cause);
  }
}

/** The API server's own message (metav1.Status.message), else the error's. */
export function apiServerMessage(err: unknown): string {
  const body = (err as { body?: unknown })?.body;
  const status = typeof body === 'string' ? parseJson(body) : body;
  const message = (status as { message?: unknown } | undefined)?.message;
  if (typeof message === 'string' && message !== '') return message;
  const code = apiStatusCode(err);
  if (code !== undefined) return `the API server answered ${code}`;
  return describeClientError(err);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Runs an API call; a failure becomes an ApiCallError naming `what`, unless `tolerate`
 * accepts it (then it resolves undefined).
 */
export async function apiCall<T>(
  what: string,
  call: () => Promise<T>,
  tolerate?: (err: unknown) => boolean,
): Promise<T | undefined> {
  try {
    return await call();
  } catch (err) {
    if (tolerate?.(err)) return undefined;
    throw new ApiCallError(what, err);
  }
}
