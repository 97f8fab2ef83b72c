// Registry authentication for one repository: anonymous until the registry challenges,
// then Basic (htpasswd registries) or a bearer token from the challenge's realm (Docker
// Hub, GHCR, Harbor, Quay, Distribution's token auth). Tokens are renewed shortly before
// they expire and whenever the registry refuses one mid-operation (a long upload can
// outlive several tokens). Credentials and tokens never reach a log or an error message.
import { RegistryError } from './errors.js';
import type { HttpTransport } from './http-transport.js';
import type { Credentials } from './credentials.js';
import type { Logger } from '../logger.js';
import { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.js';

interface BearerState {
  realm: string;
  service?: string;
  actions: Set<string>;
  token?: string;
  lifetimeMs: number;
  expiresAt: number;
}

/** Docker's token spec: expires_in defaults to 60 s. */
const DEFAULT_TOKEN_SECONDS = 60;

export interface AuthenticatorOptions {
  /** "https://host:port" of the registry. */
  origin: string;
  /** Repository name, for the token scope. */
  repository: string;
  credentials?: Credentials;
  transport: HttpTransport;
  logger?: Logger;
  /** Allow a plain-HTTP token realm (only for a plain-HTTP registry). */
  insecure: boolean;
}

export class Authenticator {
  private mode: 'anonymous' | 'basic' | 'bearer' = 'anonymous';
  private bearer?: BearerState;
  private pendingToken?: Promise<string>;
  /** Token requests made so far (for tests and metrics). */
  tokenRequests = 0;

  constructor(private readonly options: AuthenticatorOptions) {}

  /** The Authorization header for a request to the registry's own origin, if any. */
  async authorization(): Promise<string | undefined> {
    if (this.mode === 'basic') return this.basicHeader();
    if (this.mode === 'bearer' && this.bearer) {
      const b = this.bearer;
      // Renew a little before expiry: 10 s, or a fifth of a short lifetime.
      const margin = Math.min(10_000, b.lifetimeMs / 5);
      const token = !b.token || Date.now() >= b.expiresAt - margin ? await this.fetchToken() : b.token;
      return `Bearer ${token}`;
    }
    return undefined;
  }

  /**
   * Handles a 401 on a request that carried `sent` (its Authorization, or undefined).
   * Resolves when a retry with fresh authorization makes sense; throws a RegistryError
   * when it does not (no credentials, refused credentials, missing access).
   */
  async onUnauthorized(
    wwwAuthenticate: string | string[] | undefined,
    sent: string | undefined,
    what: string,
  ): Promise<void> {
    const challenges = parseWwwAuthenticate(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer) return this.onBearerChallenge(bearer, sent, what);
    if (basic) {
      if (!this.options.credentials)
        throw this.unauthorized(what, 'the registry asks for credentials and none are configured');
      if (sent?.startsWith('Basic '))
        throw this.unauthorized(what, 'the registry refused the username and password');
      this.mode = 'basic';
      return;
    }
    throw this.unauthorized(what, 'the registry answered 401 without a usable WWW-Authenticate challenge');
  }

  /** The error for a 401 that came back although we had just (re)authenticated. */
  refused(
    wwwAuthenticate: string | string[] | undefined,
    sent: string | undefined,
    what: string,
  ): RegistryError {
    const bearer = parseWwwAuthenticate(wwwAuthenticate).find((c) => c.scheme === 'bearer');
    if (bearer?.params.error === 'insufficient_scope') {
      return new RegistryError('RegistryForbidden', `${what}: the token does not grant the access needed`, {
        status: 401,
        code: 'DENIED',
      });
    }
    if (sent?.startsWith('Basic '))
      return this.unauthorized(what, 'the registry refused the username and password');
    if (sent?.startsWith('Bearer '))
      return this.unauthorized(what, 'the registry refused a freshly issued token');
    return this.unauthorized(what, 'the registry asks for credentials');
  }

  private async onBearerChallenge(
    challenge: AuthChallenge,
    sent: string | undefined,
    what: string,
  ): Promise<void> {
    const realm = challenge.params.realm;
    if (!realm) throw this.unauthorized(what, 'the bearer challenge has no realm');
    const requested = this.actionsFor(challenge.params.scope);
    const current = this.bearer;
    const sentCurrentToken = current?.token !== undefined && sent === `Bearer ${current.token}`;
    const newActions = [...requested].some((a) => !current?.actions.has(a));
    if (sentCurrentToken && !newActions && challenge.params.error === 'insufficient_scope') {
      throw new RegistryError(
        'RegistryForbidden',
        `${what}: the token server did not grant ${[...current.actions].join(',')} access to ${this.options.repository}`,
        { status: 401, code: 'DENIED' },
      );
    }
    this.mode = 'bearer';
    this.bearer = {
      realm,
      service: challenge.params.service,
      actions: new Set([...(current?.actions ?? []), ...requested]),
      lifetimeMs: current?.lifetimeMs ?? DEFAULT_TOKEN_SECONDS * 1000,
      // A token that was just refused is no longer worth anything; another caller may
      // already have renewed it, in which case retrying with that one is enough.
      token: sentCurrentToken || sent === undefined || !current?.token ? undefined : current.token,
      expiresAt: 0,
    };
    if (!this.bearer.token) await this.fetchToken();
  }

  /** pull,push for our repository, plus what the challenge asks for it (e.g. delete). */
  private actionsFor(scope: string | undefined): Set<string> {
    const actions = new Set(['pull', 'push']);
    for (const one of (scope ?? '').split(' ')) {
      const prefix = `repository:${this.options.repository}:`;
      if (one.startsWith(prefix)) for (const a of one.slice(prefix.length).split(',')) if (a) actions.add(a);
    }
    return actions;
  }

  private fetchToken(): Promise<string> {
    this.pendingToken ??= this.requestToken().finally(() => {
      this.pendingToken = undefined;
    });
    return this.pendingToken;
  }

  private async requestToken(): Promise<string> {
    const b = this.bearer!;
    const url = new URL(b.realm);
    const what = `token request to ${url.host} for ${this.options.repository}`;
    if (url.protocol === 'http:' && !this.options.insecure) {
      throw new RegistryError(
        'RegistryRejected',
        `${what}: the realm ${url.origin} is not HTTPS; refusing to send credentials`,
      );
    }
    if (b.service) url.searchParams.set('service', b.service);
    url.searchParams.set('scope', `repository:${this.options.repository}:${[...b.actions].join(',')}`);
    const headers: Record<string, string> = { Accept: 'application/json' };
    const basic = this.basicHeader();
    if (basic) headers.Authorization = basic;
    this.tokenRequests++;
    const response = await this.options.transport.send('GET', url.toString(), headers, undefined, what);
    if (response.status === 401 || response.status === 403) {
      throw this.unauthorized(
        what,
        this.options.credentials
          ? 'the token server refused the username and password'
          : 'the token server wants credentials',
        response.status,
      );
    }
    if (response.status !== 200) {
      const reason =
        response.status >= 500 || response.status === 429 ? 'RegistryUnavailable' : 'RegistryRejected';
      throw new RegistryError(reason, `${what}: answered ${response.status}`, { status: response.status });
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(response.body.toString('utf8')) as typeof body;
    } catch {
      throw new RegistryError('RegistryRejected', `${what}: the answer is not JSON`);
    }
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '')
      throw new RegistryError('RegistryRejected', `${what}: the answer has no token`);
    const seconds =
      typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    b.token = token;
    b.lifetimeMs = seconds * 1000;
    b.expiresAt = Date.now() + b.lifetimeMs;
    this.options.logger?.debug(
      { realm: url.origin, scope: url.searchParams.get('scope'), expiresIn: seconds },
      'registry token obtained',
    );
    return token;
  }

  private basicHeader(): string | undefined {
    const c = this.options.credentials;
    return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
  }

  private unauthorized(what: string, why: string, status = 401): RegistryError {
    return new RegistryError('RegistryUnauthorized', `${what}: ${why}`, { status });
  }
}
