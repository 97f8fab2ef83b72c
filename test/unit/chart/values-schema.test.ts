// values.yaml, values.schema.json and the templates agree: every value has a schema entry
// and every schema entry a default, every .Values path a template reads exists, the flags
// the chart sets are the ones the schema keeps out of extraArgs, and the defaults are
// values the operator's flag table accepts. (That a wrong value fails helm lint, template
// and install is tested with the real helm in test/integration/chart-values.test.ts.)
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { configSchema } from '../../../src/config.js';
import { chartFlags, valuesSchema, type JsonSchema } from '../../../scripts/chart-values-schema.js';
import { CHART_DIR } from '../../harness/chart-queries.js';

const values = parse(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;
const schema = JSON.parse(readFileSync(path.join(CHART_DIR, 'values.schema.json'), 'utf8')) as JsonSchema;

const properties = (s: JsonSchema) => s.properties as Record<string, JsonSchema> | undefined;

/** The schema of a dotted path, or undefined; free maps (no properties) accept any key below. */
function schemaAt(keys: string[]): JsonSchema | undefined {
  let node: JsonSchema | undefined = schema;
  for (const key of keys) {
    const props = properties(node!);
    if (!props) return node; // a map or a Kubernetes object: its keys are the user's
    node = props[key];
    if (!node) return undefined;
  }
  return node;
}

/** Dotted paths of values.yaml down to the schema's leaves. */
function valuePaths(obj: Record<string, unknown>, prefix: string[] = []): string[][] {
  return Object.entries(obj).flatMap(([key, value]) => {
    const keys = [...prefix, key];
    const node = schemaAt(keys);
    if (node && properties(node) && value && typeof value === 'object' && !Array.isArray(value))
      return valuePaths(value as Record<string, unknown>, keys);
    return [keys];
  });
}

function schemaPaths(node: JsonSchema, prefix: string[] = []): string[][] {
  return Object.entries(properties(node) ?? {}).flatMap(([key, child]) =>
    properties(child) ? schemaPaths(child, [...prefix, key]) : [[...prefix, key]],
  );
}

const templates = readdirSync(path.join(CHART_DIR, 'templates'), { recursive: true, encoding: 'utf8' })
  .filter((f) => /\.(yaml|tpl|txt)$/.test(f))
  .map((f) => readFileSync(path.join(CHART_DIR, 'templates', f), 'utf8'))
  .join('\n');

test('the committed schema is the generated one', () => {
  expect(schema).toEqual(valuesSchema());
});

test('every value has a schema entry, and every schema entry a default in values.yaml', () => {
  const missing = valuePaths(values).filter((keys) => !schemaAt(keys));
  expect(missing.map((k) => k.join('.'))).toEqual([]);
  const get = (keys: string[]) =>
    keys.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], values);
  const undocumented = schemaPaths(schema).filter((keys) => keys[0] !== 'global' && get(keys) === undefined);
  expect(undocumented.map((k) => k.join('.'))).toEqual([]);
});

test('every .Values path the templates read is in the schema', () => {
  const read = [...templates.matchAll(/\.Values((?:\.\w+)+)/g)].map((m) => m[1]!.slice(1).split('.'));
  expect(read.length).toBeGreaterThan(40);
  expect(read.filter((keys) => !schemaAt(keys)).map((k) => k.join('.'))).toEqual([]);
});

test('the flags the chart sets are in the Deployment, and extraArgs refuses them', () => {
  const deployment = readFileSync(path.join(CHART_DIR, 'templates/deployment.yaml'), 'utf8');
  const flagName = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  for (const key of chartFlags) expect(deployment).toContain(`--${flagName(key)}=`);
  const pattern = new RegExp((schemaAt(['extraArgs'])!.items as JsonSchema).pattern as string);
  for (const key of Object.keys(configSchema.shape) as (keyof typeof configSchema.shape)[]) {
    expect([key, pattern.test(`--${flagName(key)}=1`)]).toEqual([key, !chartFlags.includes(key)]);
  }
  expect(pattern.test('--export-timout=20m')).toBe(false);
});

test("the defaults of flag-backed values are accepted by the operator's flag table", () => {
  const asFlag = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));
  const backed: [keyof typeof configSchema.shape, unknown][] = [
    ['workers', values.workers],
    ['maxConcurrentExports', values.maxConcurrentExports],
    ['maxConcurrentVerifications', values.maxConcurrentVerifications],
    ['keepSnapshots', values.keepSnapshots],
    ['logLevel', values.logLevel],
    ['allowedRegistries', values.allowedRegistries],
    ['watchNamespaces', values.watchNamespaces],
    ['leaderElect', (values.leaderElection as { enabled: boolean }).enabled],
  ];
  for (const [key, value] of backed)
    expect([key, configSchema.shape[key].safeParse(asFlag(value)).success]).toEqual([key, true]);
  // And the schema's range is the flag table's: one past it is refused by both.
  expect(schemaAt(['workers'])).toMatchObject({ minimum: 1, maximum: 64 });
  expect(configSchema.shape.workers.safeParse('65').success).toBe(false);
});
