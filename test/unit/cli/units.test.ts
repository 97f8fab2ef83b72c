import {
  ageOf,
  formatAge,
  formatBytePair,
  formatBytes,
  formatEta,
  formatRate,
  percent,
} from '../../../src/cli/format/units.js';

test.each([
  [0, '0 B'],
  [1023, '1023 B'],
  [1024, '1.0 KiB'],
  [1536, '1.5 KiB'],
  [64 * 2 ** 20, '64.0 MiB'],
  [3.25 * 2 ** 30, '3.3 GiB'],
])('formatBytes(%d) = %s', (bytes, text) => {
  expect(formatBytes(bytes)).toBe(text);
});

test('a byte pair uses the unit of the total', () => {
  expect(formatBytePair(512 * 1024, 64 * 2 ** 20)).toBe('0.5/64.0 MiB');
  expect(formatBytePair(100, 900)).toBe('100/900 B');
  expect(formatBytePair(2 ** 30, 2 * 2 ** 30)).toBe('1.0/2.0 GiB');
});

test('formatRate', () => {
  expect(formatRate(4.2 * 2 ** 20)).toBe('4.2 MiB/s');
  expect(formatRate(0)).toBe('0 B/s');
});

test.each([
  [0, '0s'],
  [0.2, '1s'],
  [59, '59s'],
  [61, '1m01s'],
  [3599, '59m59s'],
  [3600 + 125, '1h02m'],
])('formatEta(%d) = %s', (seconds, text) => {
  expect(formatEta(seconds)).toBe(text);
});

test.each([
  [45, '45s'],
  [119, '119s'],
  [310, '5m10s'],
  [300, '5m'],
  [25 * 60, '25m'],
  [3 * 3600 + 600, '3h10m'],
  [30 * 3600, '30h'],
  [5 * 86400 + 7200, '5d2h'],
  [40 * 86400, '40d'],
  [3 * 365 * 86400 + 50 * 86400, '3y50d'],
  [10 * 365 * 86400, '10y'],
])('formatAge(%ds) = %s, like kubectl', (seconds, text) => {
  expect(formatAge(seconds * 1000)).toBe(text);
});

test('ageOf', () => {
  const now = new Date('2026-11-27T03:00:00Z');
  expect(ageOf('2026-11-27T02:59:15Z', now)).toBe('45s');
  expect(ageOf(undefined, now)).toBe('<unknown>');
  expect(ageOf('2026-11-27T03:00:05Z', now)).toBe('0s');
});

test('percent rounds down and stays within 0..100', () => {
  expect(percent(1, 3)).toBe(33);
  expect(percent(999, 1000)).toBe(99);
  expect(percent(5, 0)).toBe(0);
  expect(percent(11, 10)).toBe(100);
});
