// Time across operator restarts and leader changes, with the operator as its own process
// and the real clock (seconds-field schedules, so due times come every few seconds):
// down across two due times it starts one catch-up run within startingDeadlineSeconds and
// none past it; a leader killed at a due time leaves its successor to finish the run, and
// every backup is created once. On KubeVirt's real virt-controller and the bed's real node
// (kubevirt/real/bed.ts): the operator processes reach the exporters through the bed's
// cluster DNS, and every push is a transfer Pod on that node.
// Why the downtime case runs every 20 s, not 10: with pushes in transfer Pods the suite
// needs the real node (the stand-in runs no Pod), where a backup takes 10-15 s (an exporter
// Ready in 7-12 s, more under load, then the transfer Pod's ~3 s). The operator must be
// stopped with its backup settled and the catch-up must not find the previous one Saving;
// at 10 s it always did. The due times, deadlines and offsets it asserts are the same.
import { readFileSync } from 'node:fs';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { until } from '../harness/kubevirt/testing.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import { startServerImageBed, type ServerImageBed } from './serverimage-fixtures.js';
import {
  SCHEDULE,
  backupsOf,
  createFleet,
  createSchedule,
  dueOf,
  eventsOf,
  operatorProcess,
  phaseOf,
  settled,
  sleepUntil,
  vmOf,
} from './serverimageschedule-fixtures.js';
import { completedRequests } from '../harness/audit-log.js';

let bed: ServerImageBed;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  bed = await startServerImageBed(null);
}, 180_000); // the real-controller bed starts in 12-25 s, more on a loaded machine

afterAll(async () => {
  for (const stop of stops) await stop();
  await bed?.stop();
});

async function startOperator(ns: string, name: string, flags: string[] = []) {
  const op = await operatorProcess(ns, name, flags);
  stops.push(() => op.process.stop());
  return op;
}

const iso = (ms: number) => new Date(ms).toISOString();
const dueTimes = async (ns: string, schedule: string) =>
  [...new Set((await backupsOf(bed.client, ns, schedule)).map(dueOf))].sort().map(iso);
const waitForDue = (ns: string, schedule: string, due: number, timeoutMs = 45_000) =>
  until(
    `a backup due ${iso(due)}`,
    async () => (await backupsOf(bed.client, ns, schedule)).find((si) => dueOf(si) === due),
    timeoutMs,
  ).catch(async (err: Error) => {
    const events = (await eventsOf(bed.client, ns, schedule)).map((e) => `${e.reason}: ${e.message}`);
    throw new Error(
      `${err.message}\nbackups due: ${(await dueTimes(ns, schedule)).join(' ')}\n${events.join('\n')}`,
    );
  });

test('down across two due times: one catch-up within the deadline, none past it', async () => {
  const PERIOD = 20_000;
  const boundaryAfter = (ms: number) => Math.floor(ms / PERIOD) * PERIOD + PERIOD;
  const ns = await createNamespace('sis-downtime');
  await createFleet(bed.client, ns, ['db-01'], 'db');
  let op = await startOperator(ns, 'schedule-downtime-1');
  await op.started();
  await createSchedule(bed.client, ns, 'db', bed.registry, {
    schedule: '*/20 * * * * *',
    serverRef: { name: 'db-01' },
    rotation: 10,
    startingDeadlineSeconds: 8,
  });
  // Stopped while a backup is Saving, the restarted operator would finish it first and skip
  // the catch-up for that VM (its previous backup still Saving): stop once it is Active.
  await until('a first backup', async () => (await backupsOf(bed.client, ns, 'db')).length > 0, 40_000);
  await settled(bed.client, ns, 'db');

  // Down across D1 and D2; back 0.5 s after D2: D2 is caught up, D1 is not.
  await op.process.stop();
  const d1 = boundaryAfter(Date.now());
  const d2 = d1 + PERIOD;
  await sleepUntil(d2 + 500);
  op = await startOperator(ns, 'schedule-downtime-2');
  await op.started();
  await waitForDue(ns, 'db', d2);
  expect(await dueTimes(ns, 'db')).not.toContain(iso(d1));
  // The reconcile's events are written after the backups it creates: wait for them too.
  const caughtUp = await until('the MissedSchedule event', async () => {
    const messages = (await eventsOf(bed.client, ns, 'db', 'MissedSchedule'))
      .map((e) => e.message)
      .join('\n');
    return messages.includes('passed unrun') && messages;
  }).catch(() => '');
  expect(caughtUp).toContain('1 earlier due time(s) passed unrun');

  // Deadline 3 s; down across E1 and E2, back 4.5 s after E2: both are past it, skipped
  // with a warning; E3 runs on time.
  await bed.client.patch(SCHEDULE, ns, 'db', { spec: { startingDeadlineSeconds: 3 } });
  await settled(bed.client, ns, 'db');
  await op.process.stop();
  const e1 = boundaryAfter(Date.now());
  const e2 = e1 + PERIOD;
  await sleepUntil(e2 + 4500);
  op = await startOperator(ns, 'schedule-downtime-3');
  await op.started();
  await waitForDue(ns, 'db', e2 + PERIOD);
  const dues = await dueTimes(ns, 'db');
  expect(dues).not.toContain(iso(e1));
  expect(dues).not.toContain(iso(e2));
  const missed = (await eventsOf(bed.client, ns, 'db', 'MissedSchedule')).map((e) => e.message);
  expect(missed.join('\n')).toContain(`Missed the run due ${iso(e2).replace('.000Z', 'Z')} and 1 earlier`);
  expect(missed.join('\n')).toContain('past startingDeadlineSeconds 3; skipped');
  await bed.client.patch(SCHEDULE, ns, 'db', { spec: { suspend: true } });
  await settled(bed.client, ns, 'db');
  await op.process.stop();
}, 300_000);

test('a leader killed at a due time: its successor finishes the run, each backup is created once', async () => {
  const ns = await createNamespace('sis-leader');
  const recorder = recordManagers(ns);
  await recorder.start();
  stops.push(() => recorder.stop().then(() => undefined));
  const fleet = ['app-1', 'app-2', 'app-3'];
  await createFleet(bed.client, ns, fleet, 'ha');
  const election = [
    '--leader-elect=true',
    `--leader-election-namespace=${ns}`,
    '--leader-election-id=schedules',
  ];
  const a = await startOperator(ns, 'schedule-replica-a', election);
  const b = await startOperator(ns, 'schedule-replica-b', election);
  const holder = async () =>
    (
      await kubeConfig()
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ namespace: ns, name: 'schedules' })
        .catch(() => undefined)
    )?.spec?.holderIdentity;
  const first = await until('a leader', holder);
  const [leader, standby] = first.endsWith(`-${a.process.child.pid}`) ? [a, b] : [b, a];
  await leader.started();

  await createSchedule(bed.client, ns, 'ha', bed.registry, {
    schedule: '*/30 * * * * *',
    serverSelector: { matchLabels: { backup: 'ha' } },
  });
  // Kill the leader the moment the run has begun: the first backup of the due time exists.
  const firstBackup = await until(
    'the first run to begin',
    async () => (await backupsOf(bed.client, ns, 'ha'))[0],
    40_000,
  );
  await leader.process.stop('SIGKILL');
  const due = dueOf(firstBackup);
  await standby.started();
  const all = await until(
    'every VM backed up for that due time, Active',
    async () => {
      const list = (await backupsOf(bed.client, ns, 'ha')).filter((si) => dueOf(si) === due);
      return list.length === fleet.length && list.every((si) => phaseOf(si) === 'Active') ? list : undefined;
    },
    90_000,
  );
  expect(all.map(vmOf).sort()).toEqual(fleet);
  expect(readFileSync(standby.process.logFile, 'utf8')).toContain('became leader');
  await bed.client.patch(SCHEDULE, ns, 'ha', { spec: { suspend: true } });

  // The API server's own record: one successful create per backup, whoever tried.
  const creates = () =>
    completedRequests().filter(
      (e) =>
        e.verb === 'create' &&
        e.objectRef?.resource === 'serverimages' &&
        e.objectRef.namespace === ns &&
        e.responseStatus?.code === 201,
    );
  await until('the creates in the audit log', async () => creates().length >= fleet.length);
  const backups = await backupsOf(bed.client, ns, 'ha');
  expect(creates()).toHaveLength(backups.length);
  expect(new Set(backups.map((si) => `${vmOf(si)} ${dueOf(si)}`)).size).toBe(backups.length);
  // The snapshots and exports both leaders worked with were KubeVirt's.
  expectStatusByVirtController(recorder);
}, 200_000);
