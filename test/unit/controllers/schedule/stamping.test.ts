// A schedule's template carries spec.verify to every backup it stamps (and nothing when unset).
import { serverImageScheduleSpecSchema } from '../../../../src/api/serverimageschedule.js';
import { backupFor } from '../../../../src/controllers/serverimageschedule/stamping.js';
import type { ScheduleObject } from '../../../../src/controllers/serverimageschedule/types.js';

const schedule = (template: Record<string, unknown>): ScheduleObject => {
  const spec = serverImageScheduleSpecSchema.parse({
    schedule: '0 2 * * *',
    serverRef: { name: 'web' },
    backupType: 'nightly',
    rotation: 3,
    template: { registry: { repository: 'registry.example/backups/{vm}' }, ...template },
  });
  return {
    apiVersion: 'serverimage.io/v1alpha1',
    kind: 'ServerImageSchedule',
    metadata: { name: 'nightly', namespace: 'prod', uid: 'u' },
    spec,
  };
};
const due = new Date('2026-12-06T02:00:00Z');

test('verify.boot goes from the template onto each backup, its defaults filled', () => {
  const backup = backupFor(schedule({ verify: { boot: {} } }), { name: 'web', uid: 'vm-uid' }, due);
  expect(backup.spec.verify).toEqual({ boot: { timeout: '5m', check: 'GuestAgent' } });
});

test('without verify in the template, backups have none', () => {
  const backup = backupFor(schedule({}), { name: 'web', uid: 'vm-uid' }, due);
  expect(backup.spec).not.toHaveProperty('verify');
});
