import { RateEstimator } from '../../../src/cli/progress/rate.js';

const MiB = 2 ** 20;

test('no rate from a single sample', () => {
  const rate = new RateEstimator();
  rate.add(1000, 5 * MiB);
  expect(rate.bytesPerSecond()).toBeUndefined();
  expect(rate.etaSeconds(10 * MiB)).toBeUndefined();
});

test('slope over the samples, ETA from the last one', () => {
  const rate = new RateEstimator();
  rate.add(0, 0);
  rate.add(1000, 4 * MiB);
  rate.add(2000, 8 * MiB);
  expect(rate.bytesPerSecond()).toBe(4 * MiB);
  expect(rate.etaSeconds(64 * MiB)).toBe(14);
});

test('the window forgets an old, slower start', () => {
  const rate = new RateEstimator(10_000);
  rate.add(0, 0);
  rate.add(20_000, 1 * MiB); // a slow start: a snapshot, a slow first minute
  for (let t = 21_000; t <= 40_000; t += 1000) rate.add(t, 1 * MiB + ((t - 20_000) / 1000) * 2 * MiB);
  // Only the last 10 s (plus one sample before) count: 2 MiB/s, not the 1 MiB/s average.
  expect(rate.bytesPerSecond()).toBeCloseTo(2 * MiB, 0);
});

test('a counter going back (a new upload attempt) starts over', () => {
  const rate = new RateEstimator();
  rate.add(0, 0);
  rate.add(1000, 10 * MiB);
  rate.add(2000, 1 * MiB);
  expect(rate.bytesPerSecond()).toBeUndefined();
  rate.add(3000, 2 * MiB);
  expect(rate.bytesPerSecond()).toBe(1 * MiB);
});

test('no progress: rate 0, no ETA', () => {
  const rate = new RateEstimator();
  rate.add(0, 3 * MiB);
  rate.add(5000, 3 * MiB);
  expect(rate.bytesPerSecond()).toBe(0);
  expect(rate.etaSeconds(10 * MiB)).toBeUndefined();
});

test('ETA is zero when done', () => {
  const rate = new RateEstimator();
  rate.add(0, 0);
  rate.add(1000, 10 * MiB);
  expect(rate.etaSeconds(10 * MiB)).toBe(0);
});
