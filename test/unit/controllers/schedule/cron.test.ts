// Schedule arithmetic in a zone with daylight saving (Europe/Berlin: 2026-03-29 02:00 CET
// jumps to 03:00 CEST; 2026-10-25 03:00 CEST falls back to 02:00 CET), and what runs after
// downtime, suspension and a spec change.
import { CronSchedule } from '../../../../src/controllers/serverimageschedule/cron.js';
import { decideRun } from '../../../../src/controllers/serverimageschedule/timing.js';

const parse = (pattern: string, zone = 'Europe/Berlin') => {
  const s = CronSchedule.parse(pattern, zone);
  if ('error' in s) throw new Error(s.error);
  return s;
};
const at = (iso: string) => new Date(iso);
const iso = (d: Date | undefined) => d?.toISOString();
const nextN = (s: CronSchedule, from: string, n: number) => {
  const out: string[] = [];
  let t: Date | undefined = at(from);
  for (let i = 0; i < n && t; i++) out.push(iso((t = s.next(t)))!);
  return out;
};

describe('30 2 * * * in Europe/Berlin', () => {
  const nightly = parse('30 2 * * *');

  test('runs at 02:30 local: 01:30 UTC in winter, 00:30 UTC in summer', () => {
    expect(iso(nightly.next(at('2026-01-10T12:00:00Z')))).toBe('2026-01-11T01:30:00.000Z');
    expect(iso(nightly.next(at('2026-07-10T12:00:00Z')))).toBe('2026-07-11T00:30:00.000Z');
  });

  test('spring forward: 02:30 does not exist on 29 March, the run moves to 03:00 CEST; no day is lost', () => {
    expect(nextN(nightly, '2026-03-27T12:00:00Z', 4)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST, the first minute after the gap
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
  });

  test('fall back: 02:30 happens twice on 25 October, the run happens once', () => {
    expect(nextN(nightly, '2026-10-23T12:00:00Z', 3)).toEqual([
      '2026-10-24T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST); not again at 01:30 UTC (02:30 CET)
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ]);
    expect(nightly.isDue(at('2026-10-25T00:30:00Z'))).toBe(true);
    expect(nightly.isDue(at('2026-10-25T01:30:00Z'))).toBe(false);
  });

  test('the period across the change is the real elapsed time (23 h, then 25 h)', () => {
    expect(nightly.periodAfter(at('2026-03-28T12:00:00Z'))).toBe(23.5 * 3600_000);
    expect(nightly.periodAfter(at('2026-10-24T12:00:00Z'))).toBe(25 * 3600_000);
  });

  test('an hourly schedule keeps to elapsed hours over fall back: 02:00 CEST and 02:00 CET both run', () => {
    expect(nextN(parse('0 * * * *'), '2026-10-24T23:30:00Z', 3)).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET
      '2026-10-25T02:00:00.000Z', // 03:00 CET
    ]);
  });
});

test('UTC, nicknames and a leading seconds field', () => {
  expect(iso(parse('@daily', 'UTC').next(at('2026-05-01T10:00:00Z')))).toBe('2026-05-02T00:00:00.000Z');
  expect(nextN(parse('*/5 * * * * *', 'UTC'), '2026-05-01T10:00:02Z', 2)).toEqual([
    '2026-05-01T10:00:05.000Z',
    '2026-05-01T10:00:10.000Z',
  ]);
});

test('croner refuses what the CRD shape check lets through', () => {
  expect(CronSchedule.parse('61 * * * *', 'UTC')).toEqual({ error: expect.stringContaining('minute') });
  expect(CronSchedule.parse('0 2 * * *', 'Mars/Olympus')).toEqual({
    error: expect.stringContaining('Mars/Olympus'),
  });
});

describe('decideRun', () => {
  const hourly = parse('0 * * * *', 'UTC');

  test('a new schedule (no cursor) waits for the first due time, never fires at once', () => {
    expect(decideRun(hourly, undefined, at('2026-05-01T10:20:00Z'))).toEqual({
      kind: 'wait',
      next: at('2026-05-01T11:00:00Z'),
    });
  });

  test('a due cursor runs that time', () => {
    expect(decideRun(hourly, at('2026-05-01T11:00:00Z'), at('2026-05-01T11:00:00.030Z'), 60)).toEqual({
      kind: 'run',
      due: at('2026-05-01T11:00:00Z'),
      missed: 0,
      next: at('2026-05-01T12:00:00Z'),
    });
  });

  test('after downtime across two due times: one catch-up, of the latest, within the deadline', () => {
    expect(decideRun(hourly, at('2026-05-01T11:00:00Z'), at('2026-05-01T12:10:00Z'), 3600)).toEqual({
      kind: 'run',
      due: at('2026-05-01T12:00:00Z'),
      missed: 1,
      next: at('2026-05-01T13:00:00Z'),
    });
  });

  test('past the deadline: skipped', () => {
    expect(decideRun(hourly, at('2026-05-01T11:00:00Z'), at('2026-05-01T12:10:00Z'), 300)).toEqual({
      kind: 'late',
      due: at('2026-05-01T12:00:00Z'),
      lateMs: 600_000,
      missed: 1,
      next: at('2026-05-01T13:00:00Z'),
    });
  });

  test('a cursor the schedule no longer makes (spec changed) starts over from now', () => {
    const daily = parse('0 3 * * *', 'UTC');
    expect(decideRun(daily, at('2026-05-01T11:00:00Z'), at('2026-05-01T12:10:00Z'))).toEqual({
      kind: 'wait',
      next: at('2026-05-02T03:00:00Z'),
    });
  });

  test('across spring forward, the 03:00 CEST run is on time, not missed', () => {
    const nightly = parse('30 2 * * *');
    const due = at('2026-03-29T01:00:00Z');
    expect(decideRun(nightly, due, new Date(due.getTime() + 50), 60)).toMatchObject({
      kind: 'run',
      due,
      missed: 0,
    });
  });
});
