import { parseRepository, RegistryError } from '../../../src/registry/index.js';
import { reasonForStatus, registryErrorCode } from '../../../src/registry/errors.js';
import { backoffDelay } from '../../../src/registry/retry.js';

describe('registry errors', () => {
  it.each([
    [401, 'GET', 'RegistryUnauthorized'],
    [403, 'PUT', 'RegistryForbidden'],
    [404, 'GET', 'RegistryNotFound'],
    [405, 'DELETE', 'RegistryDeleteDisabled'],
    [405, 'PUT', 'RegistryRejected'],
    [400, 'PUT', 'RegistryRejected'],
    [429, 'PATCH', 'RegistryUnavailable'],
    [502, 'PATCH', 'RegistryUnavailable'],
    [503, 'GET', 'RegistryUnavailable'],
  ])('%d on %s is %s', (status, method, reason) => {
    expect(reasonForStatus(status, method)).toBe(reason);
  });

  it('only RegistryUnavailable is retryable', () => {
    expect(new RegistryError('RegistryUnavailable', 'x').retryable).toBe(true);
    expect(new RegistryError('RegistryUnauthorized', 'x').retryable).toBe(false);
    expect(new RegistryError('RegistryRejected', 'x').retryable).toBe(false);
  });

  it('reads the first OCI error of a body', () => {
    expect(registryErrorCode('{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"bad"}]}')).toEqual({
      code: 'BLOB_UPLOAD_INVALID',
      message: 'bad',
    });
    expect(registryErrorCode('<html>')).toEqual({});
  });

  it('backs off exponentially up to the cap', () => {
    const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 500 };
    for (let i = 0; i < 20; i++) {
      expect(backoffDelay(policy, 1)).toBeGreaterThanOrEqual(50);
      expect(backoffDelay(policy, 1)).toBeLessThanOrEqual(100);
      expect(backoffDelay(policy, 3)).toBeGreaterThanOrEqual(200);
      expect(backoffDelay(policy, 10)).toBeLessThanOrEqual(500);
    }
  });
});

describe('parseRepository', () => {
  it('splits host and name and picks the scheme', () => {
    expect(parseRepository('Registry.example.com:5000/vm-images/web-01')).toEqual({
      host: 'registry.example.com:5000',
      name: 'vm-images/web-01',
      origin: 'https://registry.example.com:5000',
    });
    expect(parseRepository('127.0.0.1:5000/a', true).origin).toBe('http://127.0.0.1:5000');
  });

  it.each(['nohost', 'r.io/', '/a/b', 'r.io/UPPER', 'r.io/a//b'])('refuses %s', (repo) => {
    expect(() => parseRepository(repo)).toThrow();
  });
});
