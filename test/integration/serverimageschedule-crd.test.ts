// The ServerImageSchedule CRD on the real API server: bad schedules refused by kubectl
// apply with a message naming the field, a valid one round-trips with its defaults and
// prints its columns.
import path from 'node:path';
import { installProjectCrds } from '../harness/crds.js';
import { root } from './cli-fixtures.js';
import { createNamespace, kubectl } from '../harness/testbed.js';

let namespace: string;

beforeAll(async () => {
  await installProjectCrds();
  namespace = await createNamespace('sis-crd');
});

// Leave no schedule behind for an operator that watches every namespace in a later file.
afterAll(async () => {
  await kubectl(['delete', 'serverimageschedules', '--all', '-n', namespace]);
});

type Spec = Record<string, unknown>;

const validSpec = (): Spec => ({
  schedule: '30 2 * * *',
  timeZone: 'Europe/Berlin',
  serverSelector: { matchLabels: { backup: 'nightly' } },
  backupType: 'nightly',
  rotation: 7,
  failedImagesToKeep: 2,
  startingDeadlineSeconds: 3600,
  template: {
    registry: { repository: 'registry.example.com/backups/{vm}', credentialsSecretRef: { name: 'regcred' } },
    metadata: { os_distro: 'fedora' },
  },
});

const manifest = (name: string, spec: Spec | undefined) =>
  JSON.stringify({
    apiVersion: 'serverimage.io/v1alpha1',
    kind: 'ServerImageSchedule',
    metadata: { name, namespace },
    ...(spec === undefined ? {} : { spec }),
  });

const withSpec = (patch: (spec: Spec) => void): Spec => {
  const spec = validSpec();
  patch(spec);
  return spec;
};
const template = (spec: Spec) => spec.template as Spec;
const registry = (spec: Spec) => template(spec).registry as Spec;

// [what is wrong, spec, the field the message must name, a phrase of the message]
const badManifests: [string, Spec | undefined, string, string][] = [
  ['no spec', undefined, 'spec', 'Required value'],
  [
    'both serverRef and serverSelector',
    withSpec((s) => (s.serverRef = { name: 'web-01' })),
    'spec.serverRef',
    'exactly one of serverRef and serverSelector',
  ],
  [
    'neither serverRef nor serverSelector',
    withSpec((s) => delete s.serverSelector),
    'spec.serverRef',
    'exactly one of serverRef and serverSelector',
  ],
  ['rotation 0', withSpec((s) => (s.rotation = 0)), 'spec.rotation', 'should be greater than or equal to 1'],
  ['no rotation', withSpec((s) => delete s.rotation), 'spec.rotation', 'Required value'],
  ['four cron fields', withSpec((s) => (s.schedule = '30 2 * *')), 'spec.schedule', 'five cron fields'],
  ['cron with words', withSpec((s) => (s.schedule = 'every night')), 'spec.schedule', 'five cron fields'],
  [
    'time zone in the cron line',
    withSpec((s) => (s.schedule = 'CRON_TZ=Europe/Berlin 30 2 * * *')),
    'spec.schedule',
    'put the time zone in spec.timeZone',
  ],
  ['unknown time zone', withSpec((s) => (s.timeZone = 'Mars/Olympus')), 'spec.timeZone', 'IANA zone name'],
  [
    'time zone in lower case',
    withSpec((s) => (s.timeZone = 'europe/berlin')),
    'spec.timeZone',
    'IANA zone name',
  ],
  ['an offset for a zone', withSpec((s) => (s.timeZone = '+01:00')), 'spec.timeZone', 'not an offset'],
  ['no backupType', withSpec((s) => delete s.backupType), 'spec.backupType', 'Required value'],
  [
    'backupType with a space',
    withSpec((s) => (s.backupType = 'every night')),
    'spec.backupType',
    'should match',
  ],
  [
    'negative failedImagesToKeep',
    withSpec((s) => (s.failedImagesToKeep = -1)),
    'spec.failedImagesToKeep',
    'greater than or equal to 0',
  ],
  [
    'startingDeadlineSeconds 0',
    withSpec((s) => (s.startingDeadlineSeconds = 0)),
    'spec.startingDeadlineSeconds',
    'greater than or equal to 1',
  ],
  [
    'template repository without a host',
    withSpec((s) => (registry(s).repository = 'backups/{vm}')),
    'spec.template.registry.repository',
    'should match',
  ],
  [
    'a placeholder other than {vm}',
    withSpec((s) => (registry(s).repository = 'registry.example.com/backups/{server}')),
    'spec.template.registry.repository',
    'should match',
  ],
  [
    'a tag in the template (every backup would overwrite it)',
    withSpec((s) => (registry(s).tag = 'latest')),
    'spec.template.registry.tag',
    'unknown field',
  ],
  [
    'template metadata setting a Nova backup property',
    withSpec((s) => (template(s).metadata = { image_type: 'snapshot' })),
    'spec.template.metadata',
    'set by the schedule',
  ],
  [
    'selector expression In without values',
    withSpec((s) => (s.serverSelector = { matchExpressions: [{ key: 'tier', operator: 'In' }] })),
    'spec.serverSelector.matchExpressions[0].values',
    'In and NotIn need values',
  ],
];

describe('a bad ServerImageSchedule is refused by the API server, naming the field', () => {
  test.each(badManifests)('%s', async (_what, spec, field, phrase) => {
    const result = await kubectl(['apply', '-f', '-'], manifest('bad', spec));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`${field}`);
    expect(result.stderr).toContain(phrase);
  });

  test('a name longer than a label value', async () => {
    const result = await kubectl(['apply', '-f', '-'], manifest('n'.repeat(64), validSpec()));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('metadata.name of a ServerImageSchedule is at most 63 characters');
  });
});

describe('a valid ServerImageSchedule', () => {
  test('round-trips with its defaults filled in', async () => {
    const minimal = {
      schedule: '@daily',
      serverRef: { name: 'web-01' },
      backupType: 'daily',
      rotation: 3,
      template: { registry: { repository: '127.0.0.1:5000/backups/{vm}' } },
    };
    expect((await kubectl(['apply', '-f', '-'], manifest('minimal', minimal))).stderr).toBe('');
    expect((await kubectl(['apply', '-f', '-'], manifest('nightly', validSpec()))).stderr).toBe('');
    const read = async (name: string) =>
      JSON.parse((await kubectl(['get', 'serverimageschedule', name, '-n', namespace, '-o', 'json'])).stdout);
    expect((await read('minimal')).spec).toEqual({
      ...minimal,
      timeZone: 'UTC',
      failedImagesToKeep: 1,
      suspend: false,
      template: {
        registry: { ...minimal.template.registry, insecure: false },
        format: { compression: 'gzip', disk: 'raw', layout: 'containerDisk' },
        deletionPolicy: 'Delete',
      },
    });
  });

  test('accepts a six-field schedule with seconds and zone aliases the tz database knows', async () => {
    const spec = withSpec((s) => Object.assign(s, { schedule: '*/10 * * * * *', timeZone: 'US/Pacific' }));
    expect((await kubectl(['apply', '-f', '-'], manifest('seconds', spec))).stderr).toBe('');
  });

  test('examples/serverimageschedule.yaml is accepted as it is', async () => {
    const file = path.join(root, 'examples', 'serverimageschedule.yaml');
    const fresh = await createNamespace('sis-example');
    const result = await kubectl(['apply', '--dry-run=server', '-n', fresh, '-f', file]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('serverimageschedule.serverimage.io/nightly created (server dry run)');
  });

  test('is listed with its printer columns and short name', async () => {
    const result = await kubectl(['get', 'sis', '-n', namespace]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^NAME\s+SCHEDULE\s+SUSPEND\s+LAST\s+NEXT\s+AGE/);
    expect(result.stdout).toMatch(/nightly\s+30 2 \* \* \*\s+false/);
  });
});
