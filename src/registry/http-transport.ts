// One HTTP exchange, nothing more: no redirects, no auth, no retries (the layers above
// decide those). Built on undici with a keep-alive pool; a custom CA is added to the
// public roots rather than replacing them (one SecureContext per bundle, shared: trust.ts).
// Network failures become RegistryUnavailable.
import { rootCertificates, type ConnectionOptions } from 'node:tls';
import { Agent, request } from 'undici';
import { withoutRuntimeHints } from '../kube/for-people.js';
import { RegistryError } from './errors.js';
import { trustingAlso } from './trust.js';

export type Headers = Record<string, string>;

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HttpTransportOptions {
  /** PEM bundle trusted in addition to the public roots. */
  caPem?: string;
  /** Time to wait for response headers and between body bytes (default 120 s). */
  timeoutMs?: number;
  /** Largest response body read into memory (manifests are <= 4 MiB; default 8 MiB). */
  maxBodyBytes?: number;
}

export class HttpTransport {
  private readonly agent: Agent;
  private readonly maxBodyBytes: number;

  constructor(options: HttpTransportOptions = {}) {
    const timeout = options.timeoutMs ?? 120_000;
    this.agent = new Agent({
      connect: { ...(options.caPem ? trustOptions(options.caPem) : {}), timeout: 30_000 },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      keepAliveTimeout: 30_000,
    });
    this.maxBodyBytes = options.maxBodyBytes ?? 8 * 1024 * 1024;
  }

  /** `what` names the exchange in error messages ("PATCH blob chunk to host/repo"). */
  async send(
    method: string,
    url: string,
    headers: Headers,
    body: Buffer | undefined,
    what: string,
  ): Promise<HttpResponse> {
    let answer;
    try {
      answer = await request(url, { method: method as 'GET', headers, body, dispatcher: this.agent });
    } catch (err) {
      if (isCertificateError(err)) {
        throw new RegistryError(
          'RegistryCertificateInvalid',
          `${what}: the registry's TLS certificate is not trusted (${describeNetworkError(err)}); check the CA bundle`,
          { cause: err },
        );
      }
      throw new RegistryError('RegistryUnavailable', `${what}: ${describeNetworkError(err)}`, { cause: err });
    }
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of answer.body) {
        size += (chunk as Buffer).length;
        if (size > this.maxBodyBytes) {
          answer.body.destroy();
          throw new RegistryError(
            'RegistryRejected',
            `${what}: the answer is larger than ${this.maxBodyBytes} bytes`,
          );
        }
        chunks.push(chunk as Buffer);
      }
      return { status: answer.statusCode, headers: answer.headers, body: Buffer.concat(chunks) };
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      throw new RegistryError('RegistryUnavailable', `${what}: ${describeNetworkError(err)}`, { cause: err });
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** The shared context; a bundle OpenSSL refuses is left to fail each connection, as it always did. */
function trustOptions(caPem: string): ConnectionOptions {
  try {
    return { secureContext: trustingAlso(caPem) };
  } catch {
    return { ca: [...rootCertificates, caPem] };
  }
}

const CERTIFICATE_CODES =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME_INVALID/;

function isCertificateError(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return CERTIFICATE_CODES.test(e.code ?? '') || CERTIFICATE_CODES.test(e.cause?.code ?? '');
}

function describeNetworkError(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const message = withoutRuntimeHints(e.cause?.message ?? e.message ?? String(err));
  return `connection failed${code ? ` (${code})` : ''}: ${message}`;
}

/** A header's single value (the first, if the server repeated it). */
export function header(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
