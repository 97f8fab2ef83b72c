// The schedules' gauges as a scrape reads them: per VM, the newest Active backup's time and
// the Active backups kept; per schedule, its last and next due times (none while suspended).
import { Registry } from 'prom-client';
import type { ServerImageObject } from '../../../../src/controllers/serverimage/types.js';
import { registerScheduleMetrics } from '../../../../src/controllers/serverimageschedule/metrics.js';
import { labelValue } from '../../../../src/controllers/serverimageschedule/names.js';
import type { ScheduleObject } from '../../../../src/controllers/serverimageschedule/types.js';
import {
  BACKUP_TYPE_LABEL,
  SCHEDULED_TIME_ANNOTATION,
  SCHEDULE_LABEL,
} from '../../../../src/api/metadata-keys.js';

const cache = <T>(items: T[]) => ({ list: () => items, get: () => undefined, getByKey: () => undefined });

const schedule = (name: string, status: ScheduleObject['status']): ScheduleObject =>
  ({
    metadata: { name, namespace: 'ns', uid: name },
    spec: { backupType: 'daily' },
    status,
  }) as ScheduleObject;

const backup = (name: string, vm: string, dueAt: string, phase: string, completionTime?: string) =>
  ({
    metadata: {
      name,
      namespace: 'ns',
      uid: name,
      labels: { [SCHEDULE_LABEL]: labelValue('nightly'), [BACKUP_TYPE_LABEL]: 'daily' },
      annotations: { [SCHEDULED_TIME_ANNOTATION]: dueAt },
    },
    spec: { serverRef: { name: vm } },
    status: { phase, completionTime },
  }) as unknown as ServerImageObject;

async function scrape(schedules: ScheduleObject[], images: ServerImageObject[]): Promise<string> {
  const registry = new Registry();
  registerScheduleMetrics(registry, cache(schedules), cache(images));
  return registry.metrics();
}

const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('per VM: the newest Active backup time and how many Active backups are kept', async () => {
  const text = await scrape(
    [
      schedule('nightly', {
        lastScheduleTime: '2026-12-05T02:00:00Z',
        nextScheduleTime: '2026-12-06T02:00:00Z',
      }),
    ],
    [
      backup('web-3', 'web', '2026-12-05T02:00:00Z', 'Error'),
      backup('web-2', 'web', '2026-12-04T02:00:00Z', 'Active', '2026-12-04T02:10:00Z'),
      backup('web-1', 'web', '2026-12-03T02:00:00Z', 'Active', '2026-12-03T02:10:00Z'),
      backup('db-1', 'db', '2026-12-05T02:00:00Z', 'Saving'),
    ],
  );
  const web = '{namespace="ns",schedule="nightly",server="web"}';
  const db = '{namespace="ns",schedule="nightly",server="db"}';
  expect(value(text, `serverimage_schedule_last_success_timestamp_seconds${web}`)).toBe(
    Date.parse('2026-12-04T02:10:00Z') / 1000,
  );
  expect(value(text, `serverimage_schedule_active_backups${web}`)).toBe(2);
  // A VM with no Active backup yet has a count of 0 and no last-success series.
  expect(value(text, `serverimage_schedule_active_backups${db}`)).toBe(0);
  expect(value(text, `serverimage_schedule_last_success_timestamp_seconds${db}`)).toBeUndefined();
  const nightly = '{namespace="ns",schedule="nightly"}';
  expect(value(text, `serverimage_schedule_last_run_timestamp_seconds${nightly}`)).toBe(
    Date.parse('2026-12-05T02:00:00Z') / 1000,
  );
  expect(value(text, `serverimage_schedule_next_run_timestamp_seconds${nightly}`)).toBe(
    Date.parse('2026-12-06T02:00:00Z') / 1000,
  );
});

test('a suspended schedule has no next run, so it is never overdue; a deleted one leaves no series', async () => {
  const text = await scrape([schedule('nightly', { lastScheduleTime: '2026-12-05T02:00:00Z' })], []);
  expect(text).not.toContain('serverimage_schedule_next_run_timestamp_seconds{');
  expect(text).toContain('serverimage_schedule_last_run_timestamp_seconds{');
  const schedules = [schedule('nightly', { nextScheduleTime: '2026-12-06T02:00:00Z' })];
  const registry = new Registry();
  registerScheduleMetrics(registry, cache(schedules), cache([]));
  expect(await registry.metrics()).toContain('serverimage_schedule_next_run_timestamp_seconds{');
  schedules.pop();
  expect(await registry.metrics()).not.toContain('serverimage_schedule_next_run_timestamp_seconds{');
});
