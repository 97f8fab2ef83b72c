// A selector schedule over a fleet, with the operator as its own process and the real
// clock: the schedule has a seconds field (every 10 s; a step must divide 60, */8 would
// restart at each minute), so runs come in seconds, not
// minutes. One Active backup per VM per run; rotation keeps `rotation` Active ones and
// their deletion policy removes the rotated tags from the registry (read by crane); a
// failed run of one VM deletes nothing of it; a suspended schedule stamps nothing and
// unsuspending fires nothing before the next due time.
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM, type Obj } from '../harness/kubevirt/api.js';
import { until } from '../harness/kubevirt/testing.js';
import { createNamespace } from '../harness/testbed.js';
import { cli } from './cli-fixtures.js';
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
  imageTagsOf,
  vmOf,
} from './serverimageschedule-fixtures.js';

const FLEET = ['web-a', 'web-b', 'web-c'];
const PERIOD_MS = 10_000;
const ROTATION = 2;

let bed: ServerImageBed;
let ns: string;
let stopOperator: () => Promise<void>;
let metrics: () => Promise<string>;

beforeAll(async () => {
  bed = await startServerImageBed(null);
  ns = await createNamespace('sis-rotation');
  await createFleet(bed.client, ns, FLEET, 'fleet');
  await createFleet(bed.client, ns, ['not-selected'], 'other');
  const op = await operatorProcess(ns, 'schedule-rotation', ['--max-concurrent-exports=3']);
  stopOperator = () => op.process.stop();
  metrics = op.metrics;
  await op.started();
});

afterAll(async () => {
  await stopOperator?.();
  await bed?.stop();
});

const activeByVm = (all: Obj[]) =>
  Object.fromEntries(
    FLEET.map((vm) => [
      vm,
      all
        .filter((si) => vmOf(si) === vm && phaseOf(si) === 'Active')
        .map((si) => si.metadata.name)
        .sort(),
    ]),
  );

/** Settled, and rotation caught up: no VM holds more Active backups than `rotation`. */
const settledAndRotated = () =>
  until(
    'backups settled and rotated',
    async () => {
      const all = await settled(bed.client, ns, 'fleet');
      return Object.values(activeByVm(all)).every((names) => names.length <= ROTATION) ? all : undefined;
    },
    60_000,
  );

const suspend = (value: boolean) => bed.client.patch(SCHEDULE, ns, 'fleet', { spec: { suspend: value } });

/** Every backup name seen, per VM, while waiting: rotated ones are gone by the end. */
const seen = new Map<string, Obj>();
async function watchUntil(what: string, done: (all: Obj[]) => boolean, timeoutMs = 90_000) {
  return until(
    what,
    async () => {
      const all = await backupsOf(bed.client, ns, 'fleet');
      for (const si of all) if (phaseOf(si)) seen.set(si.metadata.name, si);
      return done(all) ? all : undefined;
    },
    timeoutMs,
  );
}
const seenActive = (vm: string) =>
  [...seen.values()].filter((si) => vmOf(si) === vm && phaseOf(si) === 'Active');

test(`rotation ${ROTATION} after ${ROTATION + 2} runs: ${ROTATION} Active backups per VM remain, rotated tags gone`, async () => {
  await createSchedule(bed.client, ns, 'fleet', bed.registry, {
    schedule: '*/10 * * * * *',
    serverSelector: { matchLabels: { backup: 'fleet' } },
    rotation: ROTATION,
    template: {
      registry: { repository: `${bed.registry.host}/backups/{vm}`, insecure: true },
      metadata: { os_distro: 'fedora' },
    },
  });
  await watchUntil(`${ROTATION + 2} Active backups of each VM`, () =>
    FLEET.every((vm) => seenActive(vm).length >= ROTATION + 2),
  );
  await suspend(true);
  const all = await settled(bed.client, ns, 'fleet');
  const final = await until('rotation to finish', async () => {
    const now = await backupsOf(bed.client, ns, 'fleet');
    return FLEET.every((vm) => activeByVm(now)[vm]!.length === ROTATION) ? now : undefined;
  });
  expect(all.length).toBeGreaterThanOrEqual(FLEET.length * ROTATION);

  const took = [...seen.values()].map(
    (si) =>
      (new Date(si.status.completionTime).getTime() - new Date(si.metadata.creationTimestamp!).getTime()) /
      1000,
  );
  process.stderr.write(
    `\n[schedule] ${seen.size} backups, seconds from creation to Active: ${took.join(' ')}\n`,
  );
  // One backup per VM per run: every due time seen has all three VMs, and nothing else.
  expect(await eventsOf(bed.client, ns, 'fleet', 'SkippedServer')).toEqual([]);
  const byDue = new Map<number, string[]>();
  for (const si of seen.values()) byDue.set(dueOf(si), [...(byDue.get(dueOf(si)) ?? []), vmOf(si)].sort());
  for (const [due, vms] of byDue)
    expect([new Date(due).toISOString(), vms]).toEqual([new Date(due).toISOString(), FLEET]);
  expect([...seen.values()].some((si) => vmOf(si) === 'not-selected')).toBe(false);
  const dues = [...byDue.keys()].sort();
  for (let i = 1; i < dues.length; i++) expect((dues[i]! - dues[i - 1]!) % PERIOD_MS).toBe(0);

  // The newest `rotation` remain; their tags are all that is left in each VM's repository.
  for (const vm of FLEET) {
    const newest = seenActive(vm)
      .sort((a, b) => dueOf(b) - dueOf(a))
      .slice(0, ROTATION)
      .map((si) => si.metadata.name)
      .sort();
    expect(activeByVm(final)[vm]).toEqual(newest);
    expect(await imageTagsOf(bed.crane, `${bed.registry.host}/backups/${vm}`)).toEqual({
      images: newest,
      referrers: newest.length,
    });
  }

  // Nova's backup properties, the labels, and the manifest annotations crane reads.
  const sample = final.find((si) => vmOf(si) === 'web-a')!;
  const vm = await bed.client.get(VM, ns, 'web-a');
  expect(sample.spec.metadata).toEqual({
    os_distro: 'fedora',
    image_type: 'backup',
    backup_type: 'nightly',
    instance_uuid: vm!.metadata.uid,
  });
  expect(sample.metadata.labels).toMatchObject({
    'serverimage.io/schedule': 'fleet',
    'serverimage.io/server': 'web-a',
    'serverimage.io/backup-type': 'nightly',
  });
  expect(sample.metadata.name).toMatch(/^fleet-web-a-\d{8}-\d{6}$/);
  const manifest = (await bed.crane.manifest(sample.status.images[0].reference)) as {
    annotations: Record<string, string>;
  };
  expect(manifest.annotations['serverimage.io/metadata.image_type']).toBe('backup');
  expect(manifest.annotations['serverimage.io/metadata.instance_uuid']).toBe(vm!.metadata.uid);

  const schedule = await bed.client.get(SCHEDULE, ns, 'fleet');
  expect(schedule!.status.servers.map((s: { name: string }) => s.name)).toEqual(FLEET);
  for (const server of schedule!.status.servers)
    expect(activeByVm(final)[server.name]).toContain(server.lastImage);
  // The last-success gauge: one series per VM, at the time its newest backup became Active.
  const text = await metrics();
  for (const server of schedule!.status.servers) {
    const series = `serverimage_schedule_last_success_timestamp_seconds{namespace="${ns}",schedule="fleet",server="${server.name}"}`;
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    expect(Number(line?.slice(series.length + 1))).toBe(new Date(server.lastActiveTime).getTime() / 1000);
  }
  // controller-runtime's reconcile and work-queue metrics, for this controller as for the ServerImage one.
  const metric = (name: string) =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(`${name} `))
        ?.slice(name.length + 1) ?? NaN,
    );
  for (const controller of ['serverimageschedule', 'serverimage']) {
    expect(
      metric(`controller_runtime_reconcile_total{controller="${controller}",result="success"}`),
    ).toBeGreaterThan(0);
    expect(metric(`workqueue_adds_total{name="${controller}",controller="${controller}"}`)).toBeGreaterThan(
      0,
    );
  }

  // The CLI: a VM's backups newest first, with the schedule that made them.
  const backups = await cli(['backups', 'web-a', '-n', ns]);
  expect(backups.stderr).toBe('');
  const [header, ...rows] = backups.stdout.trimEnd().split('\n');
  expect(header).toMatch(/^NAME +SCHEDULE +BACKUP-TYPE +PHASE +TIME +IMAGE +AGE$/);
  expect(rows.map((r) => r.split(/ +/)[0])).toEqual(activeByVm(final)['web-a']!.slice().reverse());
  for (const row of rows) expect(row).toMatch(/^fleet-web-a-\S+ +fleet +nightly +Active +/);
  process.stderr.write(`\n[schedule] serverimage backups web-a after rotation:\n${backups.stdout}`);
  const list = await cli(['list', '-n', ns]);
  expect(list.stdout).toMatch(/^fleet-web-a-\S+ +web-a +fleet +Active/m);

  expect((await eventsOf(bed.client, ns, 'fleet', 'RotatedImage')).length).toBeGreaterThanOrEqual(
    FLEET.length * 2,
  );
}, 150_000);

test('a suspended schedule stamps nothing; unsuspending fires nothing before the next due time', async () => {
  const before = (await backupsOf(bed.client, ns, 'fleet')).map((si) => si.metadata.name);
  const schedule = await bed.client.get(SCHEDULE, ns, 'fleet');
  expect(schedule!.status.nextScheduleTime).toBeUndefined();
  await new Promise((r) => setTimeout(r, 2.5 * PERIOD_MS)); // two due times pass
  expect((await backupsOf(bed.client, ns, 'fleet')).map((si) => si.metadata.name)).toEqual(before);

  // Unsuspend just after a due time: the missed ones are not caught up, the next one runs.
  await sleepUntil(Math.ceil(Date.now() / PERIOD_MS) * PERIOD_MS + 300);
  const unsuspendedAt = Date.now();
  await suspend(false);
  const next = await until(
    'the next run',
    async () => {
      const fresh = (await backupsOf(bed.client, ns, 'fleet')).filter(
        (si) => !before.includes(si.metadata.name),
      );
      return fresh.length > 0 ? fresh : undefined;
    },
    20_000,
  );
  for (const si of next) expect(dueOf(si)).toBeGreaterThan(unsuspendedAt);
  await suspend(true);
  await settled(bed.client, ns, 'fleet');
}, 90_000);

test('a run that fails for one VM deletes nothing of it; the others rotate', async () => {
  const before = activeByVm(await settledAndRotated());
  await bed.client.annotate(VM, ns, 'web-c', { [Ann.faultSnapshot]: 'fail' });
  await suspend(false);
  const failed = await until(
    'a failed backup of web-c',
    async () => {
      const all = await backupsOf(bed.client, ns, 'fleet');
      return all.find((si) => vmOf(si) === 'web-c' && phaseOf(si) === 'Error');
    },
    30_000,
  );
  await suspend(true);
  const all = await settledAndRotated();
  const after = activeByVm(all);
  // web-c keeps exactly the Active backups it had; its failure is kept for inspection.
  expect(after['web-c']).toEqual(before['web-c']);
  expect(
    all.filter((si) => vmOf(si) === 'web-c' && phaseOf(si) === 'Error').map((si) => si.metadata.name),
  ).toEqual([failed.metadata.name]);
  expect(await imageTagsOf(bed.crane, `${bed.registry.host}/backups/web-c`)).toEqual({
    images: before['web-c'],
    referrers: before['web-c']!.length,
  });
  // The others made new backups in the same run and rotated: still `rotation`, not the same.
  for (const vm of ['web-a', 'web-b']) {
    expect(after[vm]).toHaveLength(ROTATION);
    expect(after[vm]).not.toEqual(before[vm]);
  }
  await bed.client.annotate(VM, ns, 'web-c', { [Ann.faultSnapshot]: null });
}, 90_000);
