// The API server's own words for a refused request, printed the way kubectl prints them:
// `Error from server (Invalid): ServerImage.serverimage.io "x" is invalid: spec.metadata: ...`.
// client-node's ApiException carries the Status object as its body (parsed or as text).
import { ApiException } from '@kubernetes/client-node';

interface StatusBody {
  kind?: string;
  reason?: string;
  message?: string;
}

function statusOf(body: unknown): StatusBody | undefined {
  if (typeof body === 'string') {
    try {
      return statusOf(JSON.parse(body));
    } catch {
      return body ? { message: body } : undefined;
    }
  }
  return typeof body === 'object' && body !== null ? (body as StatusBody) : undefined;
}

/** A one-line message for an error of the Kubernetes client, or undefined when it is not one. */
export function apiErrorMessage(err: unknown): string | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const status = statusOf(err.body);
  const reason = status?.reason ?? `HTTP ${err.code}`;
  return `Error from server (${reason}): ${status?.message ?? `HTTP ${err.code}`}`;
}

export function isNotFoundError(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}
