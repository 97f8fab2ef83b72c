// Error kinds the control loop treats differently, and reading ApiException codes.
import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of a Kubernetes API error, or undefined for other errors. */
export function apiStatusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; statusCode?: unknown };
    if (typeof e.statusCode === 'number') return e.statusCode;
    if (typeof e.code === 'number') return e.code;
  }
  return undefined;
}

export const isNotFound = (err: unknown): boolean => apiStatusCode(err) === 404;
export const isConflict = (err: unknown): boolean => apiStatusCode(err) === 409;
export const isAlreadyExists = (err: unknown): boolean => apiStatusCode(err) === 409;
