// A selector schedule over a fleet, with the operator as its own process and the real
// clock: the schedule has a seconds field (every 30 s; a step must divide 60, */8 would
// restart at each minute), so runs come in seconds, not minutes. One Active backup per VM
// per run; rotation keeps `rotation` Active ones and their deletion policy removes the
// rotated tags from the registry (read by crane); a failed run of one VM deletes nothing of
// it; a suspended schedule stamps nothing and unsuspending fires nothing before the next
// due time. On KubeVirt's real virt-controller and the bed's real node (kubevirt/real/bed.ts):
// every backup's snapshot and export are KubeVirt's, its push a transfer Pod there.
// Why 30 s and ROTATION + 1 runs: with pushes in transfer Pods the suite needs the real
// node (the stand-in runs no Pod), where an exporter is Ready 7-12 s after it starts (more
// under load) and the transfer Pod takes ~3 s more; at 10 s runs overlapped ("previous
// backup still Saving"). One run past `rotation` proves the same (the oldest of each VM
// rotated, its tag gone), and the suspended case waits one due time, not two.
import type { ScheduledServerStatus } from '../../src/api/serverimageschedule.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM, VM_SNAPSHOT, type Obj } from '../harness/kubevirt/api.js';
import { until } from '../harness/kubevirt/testing.js';
import { createNamespace } from '../harness/testbed.js';
import { cli } from './cli-fixtures.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import { conditionOf, startServerImageBed, type ServerImageBed } from './serverimage-fixtures.js';
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
const PERIOD_MS = 30_000;
const ROTATION = 2;

let bed: ServerImageBed;
let ns: string;
let stopOperator: () => Promise<void>;
let metrics: () => Promise<string>;
let recorder: ReturnType<typeof recordManagers> | undefined;

beforeAll(async () => {
  bed = await startServerImageBed(null);
  ns = await createNamespace('sis-rotation');
  recorder = recordManagers(ns);
  await recorder.start();
  // The operator process starts (seconds of tsx on a loaded machine) while the VMs do.
  const op = await operatorProcess(ns, 'schedule-rotation', ['--max-concurrent-exports=3']);
  stopOperator = () => op.process.stop();
  metrics = op.metrics;
  await Promise.all([
    createFleet(bed.client, ns, FLEET, 'fleet'),
    createFleet(bed.client, ns, ['not-selected'], 'other'),
  ]);
  await op.started();
}, 180_000); // the real-controller bed starts in 12-25 s, more on a loaded machine

afterAll(async () => {
  await recorder?.stop();
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

test(`rotation ${ROTATION} after ${ROTATION + 1} runs: ${ROTATION} Active backups per VM remain, rotated tags gone`, async () => {
  await createSchedule(bed.client, ns, 'fleet', bed.registry, {
    schedule: '*/30 * * * * *',
    serverSelector: { matchLabels: { backup: 'fleet' } },
    rotation: ROTATION,
    template: {
      registry: { repository: `${bed.registry.host}/backups/{vm}`, insecure: true },
      metadata: { os_distro: 'fedora' },
    },
  });
  await watchUntil(
    `${ROTATION + 1} Active backups of each VM`,
    () => FLEET.every((vm) => seenActive(vm).length >= ROTATION + 1),
    (ROTATION + 3) * PERIOD_MS,
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
  expect(header).toMatch(/^NAME +SCHEDULE +BACKUP-TYPE +PHASE +VERIFIED +TIME +IMAGE +AGE$/);
  expect(rows.map((r) => r.split(/ +/)[0])).toEqual(activeByVm(final)['web-a']!.slice().reverse());
  for (const row of rows) expect(row).toMatch(/^fleet-web-a-\S+ +fleet +nightly +Active +/);
  process.stderr.write(`\n[schedule] serverimage backups web-a after rotation:\n${backups.stdout}`);
  const list = await cli(['list', '-n', ns]);
  expect(list.stdout).toMatch(/^fleet-web-a-\S+ +web-a +fleet +Active/m);

  expect((await eventsOf(bed.client, ns, 'fleet', 'RotatedImage')).length).toBeGreaterThanOrEqual(
    FLEET.length,
  );
  expectStatusByVirtController(recorder!);
}, 240_000);

test('a suspended schedule stamps nothing; unsuspending fires nothing before the next due time', async () => {
  const before = (await backupsOf(bed.client, ns, 'fleet')).map((si) => si.metadata.name);
  const schedule = await bed.client.get(SCHEDULE, ns, 'fleet');
  expect(schedule!.status.nextScheduleTime).toBeUndefined();
  // A due time passes (one at least 5 s away), and 5 s more for a run it would have made to
  // show: nothing is stamped.
  const missed = Math.ceil((Date.now() + 5_000) / PERIOD_MS) * PERIOD_MS;
  await sleepUntil(missed + 5_000);
  expect((await backupsOf(bed.client, ns, 'fleet')).map((si) => si.metadata.name)).toEqual(before);

  // Unsuspended just after that due time: it is not caught up, the next one runs.
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
    PERIOD_MS + 10_000,
  );
  for (const si of next) expect(dueOf(si)).toBeGreaterThan(unsuspendedAt);
  await suspend(true);
  await settled(bed.client, ns, 'fleet');
}, 150_000);

/**
 * Unsuspends for exactly one run: waits until a backup of every VM exists for one due time
 * not seen before, then suspends again (the next due time is a period away); returns them.
 */
async function oneRun(): Promise<Map<string, Obj>> {
  const known = new Set((await backupsOf(bed.client, ns, 'fleet')).map((si) => si.metadata.name));
  await suspend(false);
  const run = await until(
    'one run of every VM',
    async () => {
      const fresh = (await backupsOf(bed.client, ns, 'fleet')).filter((si) => !known.has(si.metadata.name));
      const due = fresh[0] && dueOf(fresh[0]);
      const ofDue = fresh.filter((si) => dueOf(si) === due);
      return ofDue.length === FLEET.length ? ofDue : undefined;
    },
    PERIOD_MS + 15_000,
  );
  await suspend(true);
  return new Map(run.map((si) => [vmOf(si), si]));
}

// On the real virt-controller a VolumeSnapshot error does not fail the snapshot before its
// failureDeadline (5m; README #18): it stays InProgress, holding the VM's snapshot lock,
// and the backup ends in SnapshotTimeout (the operator's --snapshot-timeout) with KubeVirt's
// error in its message, not SnapshotFailed. To the schedule a backup that timed out is a
// failed one, and a user expects the same of both: it is kept for inspection, no good
// backup of the VM is traded for it, and the next run, once the storage works again, backs
// the VM up (the timed-out snapshot was purged, so it does not hold the VM locked).
test('a run whose backup of one VM fails (times out) deletes nothing of it; the others rotate; the next run backs it up', async () => {
  const before = activeByVm(await settledAndRotated());
  await bed.client.annotate(VM, ns, 'web-c', {
    [Ann.faultSnapshot]: 'fail',
    [Ann.faultSnapshotMessage]: 'csi driver: disk busy',
  });
  const failing = (await oneRun()).get('web-c')!;
  // Meanwhile KubeVirt holds its snapshot InProgress with the CSI error, the VM locked to it.
  const snapshotOf = async (name: string) =>
    (await bed.client.custom
      .getNamespacedCustomObject({ ...VM_SNAPSHOT, namespace: ns, name })
      .catch(() => undefined)) as Obj | undefined;
  const lock = await until('the VM locked by its erring snapshot', async () => {
    const name = (await bed.client.get(VM, ns, 'web-c'))?.status?.snapshotInProgress as string | undefined;
    const status = name ? (await snapshotOf(name))?.status : undefined;
    return status?.phase === 'InProgress' && /csi driver: disk busy/.test(status.error?.message ?? '')
      ? name
      : undefined;
  });
  const failed = await until(
    'the backup of web-c to fail',
    async () => {
      const si = (await backupsOf(bed.client, ns, 'fleet')).find(
        (b) => b.metadata.name === failing.metadata.name,
      );
      if (si && ['Active', 'Error'].includes(phaseOf(si) ?? '')) return si;
    },
    30_000,
  );
  expect(phaseOf(failed)).toBe('Error');
  expect(conditionOf(failed, 'Ready')).toMatchObject({
    reason: 'SnapshotTimeout',
    message: expect.stringMatching(/is InProgress: .*csi driver: disk busy.*; gave up after/),
  });
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
  // The schedule's status says so: the newest good backup is still the one it had.
  const server = async () =>
    ((await bed.client.get(SCHEDULE, ns, 'fleet'))!.status.servers as ScheduledServerStatus[]).find(
      (s) => s.name === 'web-c',
    );
  await until(
    'the schedule to report the failure',
    async () => (await server())?.lastScheduledPhase === 'Error',
  );
  expect(await server()).toMatchObject({
    lastImage: before['web-c']!.at(-1),
    lastScheduledImage: failed.metadata.name,
    lastScheduledPhase: 'Error',
  });
  // The others made new backups in the same run and rotated: still `rotation`, not the same.
  for (const vm of ['web-a', 'web-b']) {
    expect(after[vm]).toHaveLength(ROTATION);
    expect(after[vm]).not.toEqual(before[vm]);
  }
  // The timed-out snapshot is gone (purged with the backup), and KubeVirt's VM lock with it.
  await until(
    'the erring snapshot gone, the VM unlocked',
    async () =>
      !(await snapshotOf(lock)) && !(await bed.client.get(VM, ns, 'web-c'))?.status?.snapshotInProgress,
  );

  // The storage works again: the next run backs web-c up, and rotation resumes for it (its
  // newest finished backup is Active again); the failed one is still kept.
  await bed.client.annotate(VM, ns, 'web-c', { [Ann.faultSnapshot]: null, [Ann.faultSnapshotMessage]: null });
  const recovering = (await oneRun()).get('web-c')!;
  const recovered = activeByVm(await settledAndRotated());
  expect(recovered['web-c']).toEqual([before['web-c']!.at(-1)!, recovering.metadata.name].sort());
  expect(
    (await backupsOf(bed.client, ns, 'fleet'))
      .filter((si) => vmOf(si) === 'web-c' && phaseOf(si) === 'Error')
      .map((si) => si.metadata.name),
  ).toEqual([failed.metadata.name]);
}, 240_000);
