// One request to the registry as the protocol wants it: Authorization added only for the
// registry's own origin, one re-authentication after a 401, redirects of reads followed by
// hand (a blob GET/HEAD may be sent to a CDN or object store, which must never receive
// our credentials), and any unexpected status turned into a RegistryError.
import type { Authenticator } from './authenticator.js';
import { RegistryError, reasonForStatus, registryErrorCode } from './errors.js';
import { header, type Headers, type HttpResponse, type HttpTransport } from './http-transport.js';
import type { Logger } from '../logger.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

export interface ExchangeRequest {
  method: string;
  url: string;
  headers?: Headers;
  body?: Buffer;
  /** Statuses that are answers, not errors. */
  expect: number[];
  /** Names the exchange in errors and logs, e.g. "PATCH blob chunk". */
  what: string;
}

export interface ExchangeResponse extends HttpResponse {
  /** URL that gave this answer (after redirects); base for relative Locations. */
  url: string;
}

export class RegistrySession {
  constructor(
    readonly origin: string,
    /** "host/name", for messages. */
    readonly label: string,
    private readonly transport: HttpTransport,
    private readonly auth: Authenticator,
    private readonly logger?: Logger,
  ) {}

  async exchange(request: ExchangeRequest): Promise<ExchangeResponse> {
    const what = `${request.what} (${this.label})`;
    const followRedirects = request.method === 'GET' || request.method === 'HEAD';
    let url = request.url;
    let redirects = 0;
    let authRetries = 0;
    for (;;) {
      const sameOrigin = new URL(url).origin === this.origin;
      const headers: Headers = { 'user-agent': 'serverimage-operator', ...request.headers };
      const sent = sameOrigin ? await this.auth.authorization() : undefined;
      if (sent) headers.authorization = sent;
      this.logger?.debug({ method: request.method, url: withoutQuery(url) }, 'registry request');
      const response = await this.transport.send(request.method, url, headers, request.body, what);

      if (response.status === 401 && sameOrigin) {
        const challenge = response.headers['www-authenticate'];
        if (authRetries++ === 0) {
          await this.auth.onUnauthorized(challenge, sent, what);
          continue;
        }
        throw this.auth.refused(challenge, sent, what);
      }
      const location = header(response, 'location');
      if (followRedirects && REDIRECTS.has(response.status) && location) {
        if (++redirects > MAX_REDIRECTS) {
          throw new RegistryError('RegistryRejected', `${what}: more than ${MAX_REDIRECTS} redirects`);
        }
        url = new URL(location, url).toString();
        continue;
      }
      if (!request.expect.includes(response.status)) throw errorFor(response, request.method, what);
      return { ...response, url };
    }
  }
}

function errorFor(response: HttpResponse, method: string, what: string): RegistryError {
  const reason = reasonForStatus(response.status, method);
  const { code, message } = registryErrorCode(response.body.toString('utf8'));
  const detail = [code, message].filter(Boolean).join(': ');
  const hint =
    reason === 'RegistryDeleteDisabled'
      ? ' - the registry does not allow deletes (Distribution: storage.delete.enabled is off)'
      : '';
  return new RegistryError(
    reason,
    `${what}: answered ${response.status}${detail ? ` (${detail})` : ''}${hint}`,
    {
      status: response.status,
      code,
    },
  );
}

/** Upload URLs carry a signed _state token; logs do not need it. */
function withoutQuery(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}
