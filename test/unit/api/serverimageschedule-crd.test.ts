// The ServerImageSchedule CRD as generated: described for kubectl explain, structural, and
// its shape checks (cron, template repository) agreeing with what the operator stamps.
import { serverImageScheduleCrd } from '../../../src/api/serverimageschedule-crd.js';
import {
  CRON_SHAPE,
  TEMPLATE_REPOSITORY,
  serverImageScheduleSpecSchema,
} from '../../../src/api/serverimageschedule.js';
import { OCI_REPOSITORY } from '../../../src/api/names.js';

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; items?: Schema };

function undescribed(node: Schema, at: string): string[] {
  const missing = node.description ? [] : [at];
  const children = Object.entries(node.properties ?? {}).map(([name, child]) =>
    undescribed(child, `${at}.${name}`),
  );
  const items = node.items ? undescribed(node.items, `${at}[]`) : [];
  return [...missing, ...children.flat(), ...items];
}

const openApi = () =>
  (serverImageScheduleCrd().spec as { versions: { schema: { openAPIV3Schema: Schema } }[] }).versions[0]!
    .schema.openAPIV3Schema;

test('every field of spec and status has a description', () => {
  expect(undescribed(openApi().properties!.spec!, 'spec')).toEqual([]);
  expect(undescribed(openApi().properties!.status!, 'status')).toEqual([]);
});

test('the schema is structural', () => {
  const text = JSON.stringify(openApi());
  for (const keyword of ['$schema', 'propertyNames', 'anyOf', 'oneOf', '$ref', 'const']) {
    expect(text).not.toContain(`"${keyword}"`);
  }
});

test.each([
  ['30 2 * * *', true],
  ['*/6 * * * * *', true],
  ['0 0 1,15 * MON-FRI', true],
  ['@daily', true],
  ['30 2 * *', false],
  ['30 2 * * * * *', false],
  ['@reboot', false],
  ['', false],
])('cron shape %j: %s', (schedule, ok) => {
  expect(new RegExp(CRON_SHAPE).test(schedule)).toBe(ok);
});

test.each([
  ['registry.example.com/backups/{vm}', 'web-01.prod'],
  ['127.0.0.1:5000/{vm}/disk', 'db-01'],
  ['registry.example.com/fleet-{vm}', 'a'],
])('a template repository %s with {vm} = %s is a valid repository', (template, vm) => {
  expect(new RegExp(TEMPLATE_REPOSITORY).test(template)).toBe(true);
  expect(new RegExp(OCI_REPOSITORY).test(template.replaceAll('{vm}', vm))).toBe(true);
});

test('defaults: UTC, one failed image kept, not suspended, deletionPolicy Delete', () => {
  const spec = serverImageScheduleSpecSchema.parse({
    schedule: '@daily',
    serverRef: { name: 'web-01' },
    backupType: 'daily',
    rotation: 3,
    template: { registry: { repository: 'registry.example.com/b/{vm}' } },
  });
  expect(spec).toMatchObject({ timeZone: 'UTC', failedImagesToKeep: 1, suspend: false });
  expect(spec.template.deletionPolicy).toBe('Delete');
});
