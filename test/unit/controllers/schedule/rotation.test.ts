// Rotation, Nova's way, and the backups' names.
import type { Backup } from '../../../../src/controllers/serverimageschedule/backups.js';
import { backupName, labelValue } from '../../../../src/controllers/serverimageschedule/names.js';
import { pruneBackups } from '../../../../src/controllers/serverimageschedule/rotation.js';
import type { ServerImageObject } from '../../../../src/controllers/serverimage/types.js';

/** Backups newest first from phases, e.g. ['Active', 'Error', 'Active']. */
const backups = (...phases: (string | undefined)[]): Backup[] =>
  phases.map((phase, i) => ({
    scheduledAt: 1000 - i,
    image: {
      metadata: { name: `b${phases.length - i}`, namespace: 'ns', uid: `u${i}` },
      spec: { serverRef: { name: 'vm' } },
      status: phase ? { phase } : undefined,
    } as ServerImageObject,
  }));
const names = (list: Backup[]) => list.map((b) => b.image.metadata.name);

test('after a new Active backup, the Active ones beyond rotation go, oldest', () => {
  const result = pruneBackups(backups('Active', 'Active', 'Active', 'Active'), 2, 1);
  expect(names(result.rotated)).toEqual(['b2', 'b1']);
  expect(result.failed).toEqual([]);
});

test('Error backups are neither counted nor rotated', () => {
  const result = pruneBackups(backups('Active', 'Error', 'Active', 'Active'), 2, 1);
  expect(names(result.rotated)).toEqual(['b1']);
  expect(result.failed).toEqual([]);
});

test('after a failed run nothing Active goes, even beyond rotation', () => {
  expect(pruneBackups(backups('Error', 'Active', 'Active', 'Active'), 2, 1).rotated).toEqual([]);
});

test('a run in flight does not decide: the newest finished one does', () => {
  expect(names(pruneBackups(backups('Saving', 'Active', 'Active', 'Active'), 2, 1).rotated)).toEqual(['b1']);
  expect(names(pruneBackups(backups(undefined, 'Error', 'Active', 'Active'), 1, 1).rotated)).toEqual([]);
});

test('failedImagesToKeep keeps the newest Error backups', () => {
  expect(names(pruneBackups(backups('Error', 'Error', 'Active', 'Error'), 5, 1).failed)).toEqual([
    'b3',
    'b1',
  ]);
  expect(names(pruneBackups(backups('Error', 'Error'), 5, 0).failed)).toEqual(['b2', 'b1']);
});

test('backup names: schedule, VM and due time (UTC); long ones shortened with a hash, deterministically', () => {
  const due = new Date('2026-11-27T02:30:00Z');
  expect(backupName('nightly', 'web-01', due)).toBe('nightly-web-01-20261127-023000');
  const long = backupName('s'.repeat(63), `vm.${'v'.repeat(200)}`, due);
  expect(long.length).toBeLessThanOrEqual(128);
  expect(long).toMatch(/^s+-vm\.v+-[0-9a-f]{8}-20261127-023000$/);
  expect(backupName('s'.repeat(63), `vm.${'v'.repeat(200)}`, due)).toBe(long);
  expect(backupName('s'.repeat(63), `vm.${'v'.repeat(199)}w`, due)).not.toBe(long);
  expect(labelValue('web-01')).toBe('web-01');
  expect(labelValue('x'.repeat(100))).toHaveLength(63);
});
