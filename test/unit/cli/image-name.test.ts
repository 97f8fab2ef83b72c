import { DNS1123_SUBDOMAIN } from '../../../src/api/names.js';
import { defaultImageName, utcStamp } from '../../../src/cli/image-name.js';

const at = new Date('2026-11-27T03:04:05.678Z');
const subdomain = new RegExp(DNS1123_SUBDOMAIN);

test('the stamp is the UTC time, whatever the local zone', () => {
  expect(utcStamp(at)).toBe('20261127-030405');
  expect(utcStamp(new Date('2026-01-01T23:59:59+02:00'))).toBe('20260101-215959');
});

test('VM name and stamp, like Nova snapshot names', () => {
  expect(defaultImageName('web-01', at)).toBe('web-01-20261127-030405');
  expect(defaultImageName('db.prod', at)).toBe('db.prod-20261127-030405');
});

test.each([
  ['a long name', 'v'.repeat(100)],
  ['a cut that ends in a dash', `${'a'.repeat(45)}-${'b'.repeat(20)}`],
  ['a cut that ends in a dot', `${'a'.repeat(46)}.${'b'.repeat(20)}`],
])('%s stays a DNS-1123 name of at most 63 characters', (_what, vm) => {
  const name = defaultImageName(vm, at);
  expect(name.length).toBeLessThanOrEqual(63);
  expect(name).toMatch(subdomain);
  expect(name.endsWith('-20261127-030405')).toBe(true);
  expect(name).not.toMatch(/[-.]-20261127/);
});
