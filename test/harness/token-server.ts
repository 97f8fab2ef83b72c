// A small bearer-token server for Distribution's `auth.token` mode, the way Docker Hub,
// Harbor or GHCR hand out tokens: GET <realm>?service=..&scope=.. with Basic credentials
// answers {token, access_token, expires_in, issued_at}, a JWT signed RS256 by a key whose
// certificate is the registry's `rootcertbundle`.
//
// Distribution v3 finds the signing key by the JWT header `kid`, which it compares with
// the RFC 7638 JWK thumbprint of each certificate in the bundle (registry/auth/token,
// accesscontroller.go + util.go), so no x5c chain is needed.
//
// Distribution accepts a token up to 60 s after its `exp` (token.go: Leeway). So that a
// test can make a token really expire after a few seconds, `exp` is back-dated by that
// leeway: the registry refuses the token `lifetimeSeconds` after it was issued.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createCertificateAuthority } from './tls.js';

/** Distribution's clock-skew leeway on `exp` (registry/auth/token/token.go). */
const DISTRIBUTION_LEEWAY_SECONDS = 60;

export interface TokenServerOptions {
  /** Accepted Basic credentials; anonymous token requests are refused (401). */
  username: string;
  password: string;
  /** Must equal the registry's auth.token.service. */
  service: string;
  /** Must equal the registry's auth.token.issuer. */
  issuer: string;
  /** Seconds after which the registry refuses a token (default 300). */
  lifetimeSeconds?: number;
  /**
   * The expires_in told to the client (default: the real lifetime). Telling more than the
   * truth makes a client find out about expiry only from a 401 mid-operation.
   */
  advertisedExpiresIn?: number;
  /** Folder where the signing certificate (the registry's rootcertbundle) is written. */
  dir: string;
}

export interface TokenRequestRecord {
  at: number;
  scope: string | null;
  service: string | null;
  /** The user name of the Basic credentials, or null when there were none. */
  user: string | null;
  status: number;
  /** The token issued (for tests that check it never shows up anywhere). */
  token?: string;
}

export interface TokenServer {
  /** The realm URL for the registry's config. */
  realm: string;
  /** Path of the PEM certificate of the signing key. */
  rootCertBundle: string;
  service: string;
  issuer: string;
  /** Every token request seen, in order. */
  requests: TokenRequestRecord[];
  /** Change the lifetime of tokens issued from now on. */
  setLifetime(seconds: number, advertisedExpiresIn?: number): void;
  stop(): Promise<void>;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** RFC 7638 thumbprint of an RSA public key: sha256 over {"e","kty","n"} in that order. */
export function jwkThumbprint(publicKeyPem: string): string {
  const jwk = createPublicKey(publicKeyPem).export({ format: 'jwk' });
  const canonical = JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n });
  return createHash('sha256').update(canonical).digest('base64url');
}

/** Parses `repository:name:pull,push` (several space-separated scopes allowed). */
function accessFromScope(scope: string | null): { type: string; name: string; actions: string[] }[] {
  if (!scope) return [];
  return scope
    .split(' ')
    .filter(Boolean)
    .map((one) => {
      const firstColon = one.indexOf(':');
      const lastColon = one.lastIndexOf(':');
      return {
        type: one.slice(0, firstColon),
        name: one.slice(firstColon + 1, lastColon),
        actions: one.slice(lastColon + 1).split(','),
      };
    });
}

function basicUser(header: string | undefined): { user: string; password: string } | null {
  const match = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const signer = createCertificateAuthority('serverimage-test-token-signer');
  const rootCertBundle = path.join(options.dir, 'token-signer.pem');
  writeFileSync(rootCertBundle, signer.certPem);
  const privateKey = createPrivateKey(signer.keyPem);
  const kid = jwkThumbprint(signer.certPem);
  let lifetime = options.lifetimeSeconds ?? 300;
  let advertised = options.advertisedExpiresIn;
  const requests: TokenRequestRecord[] = [];

  function issue(user: string, scope: string | null): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', kid };
    const claims = {
      iss: options.issuer,
      sub: user,
      aud: options.service,
      exp: now + lifetime - DISTRIBUTION_LEEWAY_SECONDS,
      nbf: now - 1,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access: accessFromScope(scope),
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), privateKey);
    return `${signingInput}.${base64url(signature)}`;
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const scope = url.searchParams.get('scope');
    const service = url.searchParams.get('service');
    const creds = basicUser(req.headers.authorization);
    const record: TokenRequestRecord = {
      at: Date.now(),
      scope,
      service,
      user: creds?.user ?? null,
      status: 0,
    };
    requests.push(record);
    const answer = (status: number, body: unknown) => {
      record.status = status;
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/token') return answer(404, { error: 'not found' });
    if (!creds || creds.user !== options.username || creds.password !== options.password) {
      res.setHeader('WWW-Authenticate', 'Basic realm="serverimage-test-token"');
      return answer(401, { details: 'invalid username or password' });
    }
    if (service !== options.service) return answer(400, { details: `unknown service ${service}` });
    const token = issue(creds.user, scope);
    record.token = token;
    answer(200, {
      token,
      access_token: token,
      expires_in: advertised ?? lifetime,
      issued_at: new Date().toISOString(),
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    realm: `http://127.0.0.1:${port}/token`,
    rootCertBundle,
    service: options.service,
    issuer: options.issuer,
    requests,
    setLifetime(seconds, advertisedExpiresIn) {
      lifetime = seconds;
      advertised = advertisedExpiresIn;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
