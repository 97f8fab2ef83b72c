import {
  clearRetry,
  recordFailure,
  startWaiting,
  untilNextAttempt,
  waitingFor,
} from '../../../src/controllers/serverimage/retry-budget.js';
import { Scope } from '../../../src/controllers/serverimage/scope.js';
import type { ServerImageObject } from '../../../src/controllers/serverimage/types.js';

const object = (status?: ServerImageObject['status']): ServerImageObject => ({
  apiVersion: 'serverimage.io/v1alpha1',
  kind: 'ServerImage',
  metadata: { name: 'si', namespace: 'ns', uid: 'u', generation: 1 },
  spec: {
    serverRef: { name: 'vm' },
    registry: { repository: 'r/x', insecure: false },
    format: { compression: 'gzip', disk: 'raw', layout: 'containerDisk' },
    deletionPolicy: 'Retain',
  },
  status,
});

test('the budget counts from status.retry.since, so a new process (a new Scope) continues it', () => {
  const t0 = new Date('2026-12-01T10:00:00Z');
  const first = new Scope(object(), t0);
  const a1 = recordFailure(first, 'RegistryReady', 'RegistryUnavailable: down');
  expect(a1).toEqual({ attempts: 1, failingForMs: 0, delayMs: 2000 });
  expect(untilNextAttempt(first, 'RegistryReady')).toBe(2000);
  // "Restart": only what was written to status survives.
  const written = first.statusChanges()!;
  const later = new Scope(object(written as ServerImageObject['status']), new Date(t0.getTime() + 150_000));
  const a2 = recordFailure(later, 'RegistryReady', 'RegistryUnavailable: still down');
  expect(a2).toEqual({ attempts: 2, failingForMs: 150_000, delayMs: 4000 });
  expect(later.status.retry).toMatchObject({
    since: '2026-12-01T10:00:00Z',
    lastError: 'RegistryUnavailable: still down',
  });
  // Another step starts its own budget.
  expect(recordFailure(later, 'Pushed', 'x').attempts).toBe(1);
  clearRetry(later, 'Pushed');
  expect(later.status.retry).toBeUndefined();
  expect(later.statusChanges()).toMatchObject({ retry: null });
});

test('a wait keeps its start and counts no attempt', () => {
  const t0 = new Date('2026-12-01T10:00:00Z');
  const scope = new Scope(
    object({ retry: { step: 'VolumesReady', since: '2026-12-01T09:59:00Z', attempts: 0 } }),
    t0,
  );
  expect(startWaiting(scope, 'VolumesReady', 'PVC x not found')).toBe(60_000);
  expect(waitingFor(scope, 'VolumesReady')).toBe(60_000);
  expect(scope.status.retry?.attempts).toBe(0);
});
