import { registryAllowed } from '../../../src/controllers/serverimage/allowed-registries.js';
import { loadConfig } from '../../../src/config.js';

test('no patterns: any registry', () => {
  expect(registryAllowed('anything.example.org:5000', [])).toBe(true);
});

test('a host allows any port of it; host:port only that port', () => {
  expect(registryAllowed('harbor.example.com', ['harbor.example.com'])).toBe(true);
  expect(registryAllowed('harbor.example.com:8443', ['harbor.example.com'])).toBe(true);
  expect(registryAllowed('HARBOR.example.com', ['harbor.example.com'])).toBe(true);
  expect(registryAllowed('harbor.example.com:8443', ['harbor.example.com:5000'])).toBe(false);
  expect(registryAllowed('127.0.0.1:5000', ['127.0.0.1:5000'])).toBe(true);
  expect(registryAllowed('harbor.example.com.evil.org', ['harbor.example.com'])).toBe(false);
});

test('*.example.com: subdomains, not the domain itself nor look-alikes', () => {
  const patterns = ['*.internal.example.com'];
  expect(registryAllowed('a.internal.example.com', patterns)).toBe(true);
  expect(registryAllowed('b.a.internal.example.com:443', patterns)).toBe(true);
  expect(registryAllowed('internal.example.com', patterns)).toBe(false);
  expect(registryAllowed('evilinternal.example.com', patterns)).toBe(false);
});

test('--allowed-registries is parsed and checked', () => {
  expect(
    loadConfig(['--allowed-registries=Harbor.example.com, *.internal.example.com'], {}).allowedRegistries,
  ).toEqual(['harbor.example.com', '*.internal.example.com']);
  expect(loadConfig([], {}).allowedRegistries).toEqual([]);
  expect(() => loadConfig(['--allowed-registries=https://harbor.example.com'], {})).toThrow(
    /--allowed-registries: a registry host pattern/,
  );
});
