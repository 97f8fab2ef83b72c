import { RegistryBackoff } from '../../../src/controllers/serverimage/registry-backoff.js';

test('images of a failing host wait together, and one probes when the backoff ends', () => {
  let now = 1_000_000;
  const backoff = new RegistryBackoff(() => now);
  expect(backoff.waitFor('r:5000', 'ns/a')).toBe(0);
  expect(backoff.failed('r:5000')).toBe(2000);
  // Every image waits, not only the one that failed.
  expect(backoff.waitFor('r:5000', 'ns/b')).toBe(2000);
  expect(backoff.waitFor('r:5000', 'ns/a')).toBe(2000);
  expect(backoff.waitFor('other:5000', 'ns/c')).toBe(0);
  now += 2000;
  // One goes; the others wait for its answer.
  expect(backoff.waitFor('r:5000', 'ns/b')).toBe(0);
  expect(backoff.waitFor('r:5000', 'ns/a')).toBeGreaterThan(0);
  expect(backoff.waitFor('r:5000', 'ns/b')).toBe(0);
  // It failed again: the host's delay doubles.
  expect(backoff.failed('r:5000')).toBe(4000);
  expect(backoff.waitFor('r:5000', 'ns/a')).toBe(4000);
  now += 4000;
  expect(backoff.waitFor('r:5000', 'ns/a')).toBe(0);
  backoff.succeeded('r:5000');
  expect(backoff.waitFor('r:5000', 'ns/b')).toBe(0);
  expect(backoff.failures('r:5000')).toBe(0);
});
