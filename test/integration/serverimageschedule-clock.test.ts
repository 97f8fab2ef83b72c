// The schedule controller on an injected clock, against the real API server, with the
// real (in-process) ServerImage controller turning its backups Active: a nightly schedule
// in Europe/Berlin stepped across the 2027 spring-forward change in seconds. Its due times
// are the instants the zone's rules give (01:30Z, then 01:00Z = 03:00 CEST for the 02:30
// that does not exist, then 00:30Z), and rotation keeps the newest two. On KubeVirt's real
// virt-controller (kubevirt/real/bed.ts): each backup's snapshot and export are KubeVirt's.
import { FakeClock } from '../unit/kube/fake-clock.js';
import { until } from '../harness/kubevirt/testing.js';
import { loadConfig } from '../../src/config.js';
import {
  startScheduleController,
  type RunningScheduleController,
} from '../../src/controllers/serverimageschedule/controller.js';
import { silentLogger } from '../../src/kube/index.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import { startServerImageBed, type ServerImageBed } from './serverimage-fixtures.js';
import { SCHEDULE, backupsOf, createFleet, createSchedule, phaseOf } from './serverimageschedule-fixtures.js';

let bed: ServerImageBed;
let scheduling: RunningScheduleController | undefined;
let recorder: ReturnType<typeof recordManagers> | undefined;

beforeAll(async () => {
  bed = await startServerImageBed([]);
}, 180_000); // the real-controller bed starts in 12-25 s, more on a loaded machine

afterAll(async () => {
  await recorder?.stop();
  await scheduling?.stop();
  await bed?.stop();
});

class SettableClock extends FakeClock {
  constructor(start: number) {
    super();
    this.advance(start - this.now());
  }
}

test('a nightly Berlin schedule across spring forward, on an injected clock', async () => {
  const ns = await createNamespace('sis-clock');
  recorder = recordManagers(ns);
  await recorder.start();
  await createFleet(bed.client, ns, ['web-01'], 'nightly');
  await createSchedule(bed.client, ns, 'berlin', bed.registry, {
    schedule: '30 2 * * *',
    timeZone: 'Europe/Berlin',
    serverRef: { name: 'web-01' },
    rotation: 2,
  });
  const clock = new SettableClock(Date.parse('2027-03-26T12:00:00Z'));
  const config = loadConfig([`--watch-namespaces=${ns}`], {});
  scheduling = await startScheduleController({
    kubeConfig: kubeConfig(),
    config,
    logger: silentLogger,
    clock,
  });
  const status = async () => (await bed.client.get(SCHEDULE, ns, 'berlin'))!.status ?? {};
  const condition = async (type: string) =>
    ((await status()).conditions ?? []).find((c: { type: string }) => c.type === type);

  // Created (in real time) months before this clock's now, with no backup yet: overdue.
  await until('the first due time', async () => (await status()).nextScheduleTime === '2027-03-27T01:30:00Z');
  expect((await condition('BackupsOverdue'))?.status).toBe('True');

  const expected = [
    ['2027-03-27T01:30:00Z', '2027-03-28T01:00:00Z'],
    ['2027-03-28T01:00:00Z', '2027-03-29T00:30:00Z'],
    ['2027-03-29T00:30:00Z', '2027-03-30T00:30:00Z'],
  ];
  for (const [due, next] of expected) {
    clock.advance(Date.parse(due!) - clock.now());
    scheduling.controller.enqueue(`${ns}/berlin`); // time moved: look again
    const stamp = due!.replace(/[-:]/g, '').replace('T', '-').replace('Z', '');
    await until(
      `the backup due ${due} Active`,
      async () => {
        const si = (await backupsOf(bed.client, ns, 'berlin')).find(
          (b) => b.metadata.name === `berlin-web-01-${stamp}`,
        );
        return si && phaseOf(si) === 'Active';
      },
      30_000,
    );
    scheduling.controller.enqueue(`${ns}/berlin`);
    await until(`the next due time ${next}`, async () => (await status()).nextScheduleTime === next);
  }
  expect((await condition('BackupsOverdue'))?.status).toBe('False');
  const names = await until('rotation to two', async () => {
    const list = (await backupsOf(bed.client, ns, 'berlin')).filter((b) => !b.metadata.deletionTimestamp);
    return list.length === 2 ? list.map((b) => b.metadata.name) : undefined;
  });
  expect(names).toEqual(['berlin-web-01-20270328-010000', 'berlin-web-01-20270329-003000']);
  expect((await status()).lastScheduleTime).toBe('2027-03-29T00:30:00Z');
  expectStatusByVirtController(recorder);
}, 120_000);
