// One sentence for whatever a Kubernetes client call threw, for the places a person reads
// (CLI output, start-up logs, conditions, events). client-node throws undici's bare
// `TypeError: fetch failed` for every network failure; what happened is in the `cause`
// chain (ECONNREFUSED, ENOTFOUND, a certificate code, UND_ERR_*), and an ApiException's
// own message is "HTTP-Code: ... Headers: {...}" with the server's words buried in its body.
import { withoutRuntimeHints } from './for-people.js';

/**
 * client-node's ApiException (an HTTP answer: its status code, body and headers), told by its
 * shape rather than by `instanceof`: the data path uses this file in the transfer Pod, which
 * never calls the API and should not load the Kubernetes client (~3 s and ~100 MiB of RSS).
 */
function isApiException(e: unknown): e is { code: number; body: unknown; headers: unknown } {
  const x = e as { code?: unknown; body?: unknown; headers?: unknown } | undefined;
  return (
    e instanceof Error && typeof x?.code === 'number' && 'body' in (x as object) && 'headers' in (x as object)
  );
}

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  hostname?: unknown;
  address?: unknown;
  port?: unknown;
  body?: unknown;
}

/** The error and its causes, outermost first (bounded: a cycle must not hang us). */
function chain(err: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  let current: unknown = err;
  while (typeof current === 'object' && current !== null && out.length < 8) {
    out.push(current as ErrorLike);
    current = (current as ErrorLike).cause;
  }
  return out;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

const CERTIFICATE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME_INVALID/;

/** What a network error code means, in words; `at` is " at host:port" or "". */
function networkWords(code: string, at: string): string | undefined {
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused${at} (ECONNREFUSED): nothing listens there, or the server is down`;
    case 'ENOTFOUND':
      return `the host name${at} does not resolve (ENOTFOUND): check the server address and DNS`;
    case 'EAI_AGAIN':
      return `the DNS lookup${at} failed for now (EAI_AGAIN)`;
    case 'ECONNRESET':
      return `the connection${at} was reset (ECONNRESET)`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to the server${at} (${code})`;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connecting${at} timed out (${code})`;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return `the server${at} did not answer in time (${code})`;
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return `the connection${at} closed early (${code})`;
    default:
      return undefined;
  }
}

/** The host (and port) an undici/net error names, as " at host:port". */
function placeOf(errors: ErrorLike[]): string {
  for (const e of errors) {
    const host = text(e.hostname) ?? text(e.address);
    if (host) return typeof e.port === 'number' ? ` at ${host}:${e.port}` : ` at ${host}`;
  }
  return '';
}

/** The Status object's message of an ApiException body (parsed or text). */
function statusMessage(body: unknown): { reason?: string; message?: string } {
  let status = body;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      return { message: text(body.trim()) };
    }
  }
  const s = (status ?? {}) as { reason?: unknown; message?: unknown };
  return { reason: text(s.reason), message: text(s.message) };
}

/**
 * A sentence for an error of a Kubernetes (or other HTTP) client call: the server's own
 * words for an answer it gave, the network cause for one it could not give.
 */
export function describeClientError(err: unknown): string {
  const errors = chain(err);
  if (errors.length === 0) return String(err);
  // Our own errors (RegistryError, DataPathError, ApiCallError) carry a condition reason and
  // a message already written for people, naming what failed: keep it.
  const own = errors[0] as ErrorLike & { reason?: unknown };
  if (typeof own.reason === 'string' && text(own.message)) return withoutRuntimeHints(own.message as string);
  for (const e of errors) {
    if (isApiException(e)) {
      const { reason, message } = statusMessage(e.body);
      const head = `the API server answered ${e.code}${reason ? ` (${reason})` : ''}`;
      return message ? `${head}: ${message}` : head;
    }
  }
  const at = placeOf(errors);
  for (const e of errors) {
    const code = text(e.code);
    if (!code) continue;
    const words = networkWords(code, at);
    if (words) return words;
    if (CERTIFICATE.test(code)) {
      const detail = withoutRuntimeHints(text(e.message) ?? code);
      return code === 'ERR_TLS_CERT_ALTNAME_INVALID'
        ? `the server's TLS certificate does not name the host it was reached by (${code}): ${detail}`
        : `the server's TLS certificate is not trusted (${code}): ${detail}`;
    }
    if (code.startsWith('ERR_SSL') || code === 'EPROTO') {
      return `the TLS handshake failed (${code}): ${withoutRuntimeHints(text(e.message) ?? code)}`;
    }
  }
  for (const e of errors) {
    if (e.name === 'TimeoutError') return 'the request timed out';
    if (e.name === 'AbortError') return 'the request was cancelled';
  }
  // Something else: the innermost message says most ("bad port", "invalid URL"), the outer
  // one ("fetch failed") only that a request was being made.
  const messages = errors.map((e) => text(e.message)).filter((m): m is string => m !== undefined);
  const inner = messages.at(-1) ?? String(err);
  const outer = messages[0];
  return withoutRuntimeHints(
    outer && outer !== inner && outer !== 'fetch failed' ? `${outer}: ${inner}` : inner,
  );
}

/** Whether the API server can answer but not yet (warming up, overloaded): worth waiting for. */
export function isTransientApiError(err: unknown): boolean {
  for (const e of chain(err)) {
    if (isApiException(e)) return e.code === 429 || e.code === 503 || e.code === 504;
  }
  return false;
}

/** Whether the request never got an answer (network, DNS, TLS, timeout), as opposed to an answer that refused it. */
export function isUnreachable(err: unknown): boolean {
  const errors = chain(err);
  if (errors.some((e) => isApiException(e))) return false;
  return errors.some((e) => {
    const code = text(e.code) ?? '';
    return (
      networkWords(code, '') !== undefined ||
      CERTIFICATE.test(code) ||
      code.startsWith('ERR_SSL') ||
      code === 'EPROTO' ||
      (e.name === 'TypeError' && e.message === 'fetch failed')
    );
  });
}

/** "cannot reach the Kubernetes API server at https://...: connection refused ..." */
export function unreachableMessage(server: string, err: unknown): string {
  return `cannot reach the Kubernetes API server at ${server}: ${describeClientError(err)}`;
}
