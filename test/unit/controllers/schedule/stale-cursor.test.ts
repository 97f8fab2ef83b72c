// The schedule's cursor (status.nextScheduleTime) comes back through the informer: a reconcile
// can run before the cache shows the reconciler's own write. At the due time it must still run
// the due time it wrote, not take the next one after now (which skipped a night once).
import type { CustomObjectsApi } from '@kubernetes/client-node';
import type { ScheduleDeps } from '../../../../src/controllers/serverimageschedule/deps.js';
import { ScheduleReconciler } from '../../../../src/controllers/serverimageschedule/reconciler.js';
import type { ScheduleObject } from '../../../../src/controllers/serverimageschedule/types.js';
import type { EventRecorder } from '../../../../src/kube/index.js';
import { silentLogger } from '../../../../src/logger.js';
import { FakeClock } from '../../kube/fake-clock.js';

test('a reconcile at the due time runs it even when the cache still shows no cursor', async () => {
  // The cache never catches up: every read is the schedule as first created, without status.
  const stale = {
    metadata: {
      name: 'nightly',
      namespace: 'ns',
      uid: 'u1',
      generation: 1,
      creationTimestamp: '2027-01-01T00:00:00Z',
    },
    spec: {
      schedule: '0 2 * * *',
      timeZone: 'UTC',
      serverRef: { name: 'web' },
      template: { registry: { repository: 'registry.example/backups/{vm}' } },
    },
  } as unknown as ScheduleObject;
  const created: string[] = [];
  const written: Record<string, unknown>[] = [];
  const custom = {
    createNamespacedCustomObject: async ({ body }: { body: { metadata: { name: string } } }) =>
      created.push(body.metadata.name),
    patchNamespacedCustomObjectStatus: async ({ body }: { body: { status: Record<string, unknown> } }) =>
      written.push(body.status),
  } as unknown as CustomObjectsApi;
  const clock = new FakeClock();
  clock.advance(Date.parse('2027-01-01T12:00:00Z') - clock.now());
  const deps: ScheduleDeps = {
    clock,
    logger: silentLogger,
    custom,
    schedules: { getByKey: () => stale, get: () => stale, list: () => [stale] },
    backups: { getByKey: () => undefined, get: () => undefined, list: () => [] },
    vms: {
      getByKey: () => undefined,
      get: () => ({ metadata: { name: 'web', uid: 'vm1' } }),
      list: () => [],
    },
  } as unknown as ScheduleDeps;
  const recorder = { event: async () => undefined } as unknown as EventRecorder;
  const reconciler = new ScheduleReconciler(deps, recorder);

  await reconciler.reconcile('ns/nightly');
  expect(written.at(-1)?.nextScheduleTime).toBe('2027-01-02T02:00:00Z');
  clock.advance(Date.parse('2027-01-02T02:00:00Z') - clock.now());
  await reconciler.reconcile('ns/nightly');
  expect(created).toEqual(['nightly-web-20270102-020000']);
  expect(written.at(-1)).toMatchObject({
    lastScheduleTime: '2027-01-02T02:00:00Z',
    nextScheduleTime: '2027-01-03T02:00:00Z',
  });
});
