// describeClientError on the errors client-node and undici really throw: the ones made
// here are real (a refused connection, an ApiException the client built from an answer).
import net from 'node:net';
import { ApiException } from '@kubernetes/client-node';
import { describeClientError, isTransientApiError, isUnreachable } from '../../../src/kube/client-error.js';

async function refusedFetch(): Promise<unknown> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  try {
    await fetch(`http://127.0.0.1:${port}/`);
  } catch (err) {
    return err;
  }
  throw new Error('fetch to a closed port succeeded');
}

test('fetch failed with ECONNREFUSED says refused, where, and the code', async () => {
  const err = await refusedFetch();
  expect((err as Error).message).toBe('fetch failed');
  expect(describeClientError(err)).toMatch(/^connection refused at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  expect(isUnreachable(err)).toBe(true);
});

test('an ApiException says the status, its reason and the server words, not the headers', () => {
  const body = JSON.stringify({
    kind: 'Status',
    reason: 'TooManyRequests',
    message: 'storage is (re)initializing',
    code: 429,
  });
  const err = new ApiException(429, 'HTTP-Code: 429\nMessage: ...', body, { 'retry-after': '1' });
  expect(describeClientError(err)).toBe(
    'the API server answered 429 (TooManyRequests): storage is (re)initializing',
  );
  expect(isTransientApiError(err)).toBe(true);
  expect(isUnreachable(err)).toBe(false);
});

test('certificate codes, DNS, undici timeouts and aborts each get their words', () => {
  const wrapped = (cause: object) => Object.assign(new TypeError('fetch failed'), { cause });
  expect(
    describeClientError(
      wrapped(
        Object.assign(
          new Error(
            'self-signed certificate in certificate chain; if the root CA is installed locally, try running Node.js with --use-system-ca',
          ),
          {
            code: 'SELF_SIGNED_CERT_IN_CHAIN',
          },
        ),
      ),
    ),
  ).toBe(
    "the server's TLS certificate is not trusted (SELF_SIGNED_CERT_IN_CHAIN): self-signed certificate in certificate chain",
  );
  expect(
    describeClientError(
      wrapped(
        Object.assign(new Error('getaddrinfo ENOTFOUND x.invalid'), {
          code: 'ENOTFOUND',
          hostname: 'x.invalid',
        }),
      ),
    ),
  ).toBe('the host name at x.invalid does not resolve (ENOTFOUND): check the server address and DNS');
  expect(
    describeClientError(
      wrapped(Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' })),
    ),
  ).toBe('the server did not answer in time (UND_ERR_HEADERS_TIMEOUT)');
  expect(describeClientError(new DOMException('This operation was aborted', 'AbortError'))).toBe(
    'the request was cancelled',
  );
  expect(describeClientError(wrapped(new Error('bad port')))).toBe('bad port');
  expect(describeClientError('plain')).toBe('plain');
});
