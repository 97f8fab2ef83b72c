import { serverImageCrd } from '../../../src/api/crd.js';
import { serverImageSpecSchema } from '../../../src/api/serverimage.js';

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; items?: Schema };

/** Paths of every field below `node` that has no description (what `kubectl explain` would show empty). */
function undescribed(node: Schema, at: string): string[] {
  const missing = node.description ? [] : [at];
  const children = Object.entries(node.properties ?? {}).map(([name, child]) =>
    undescribed(child, `${at}.${name}`),
  );
  const items = node.items ? undescribed(node.items, `${at}[]`) : [];
  const values =
    typeof node.additionalProperties === 'object'
      ? undescribed({ ...(node.additionalProperties as Schema), description: 'values' }, `${at}{}`)
      : [];
  return [...missing, ...children.flat(), ...items, ...values];
}

const openApi = () => {
  const version = (serverImageCrd().spec as { versions: { schema: { openAPIV3Schema: Schema } }[] })
    .versions[0]!;
  return version.schema.openAPIV3Schema;
};

test('every field of spec and status has a description', () => {
  const root = openApi();
  expect(undescribed(root.properties!.spec!, 'spec')).toEqual([]);
  expect(undescribed(root.properties!.status!, 'status')).toEqual([]);
});

test('the schema is structural: no JSON Schema keywords Kubernetes refuses', () => {
  const text = JSON.stringify(openApi());
  for (const keyword of ['$schema', 'propertyNames', 'anyOf', 'oneOf', '$ref', 'const']) {
    expect(text).not.toContain(`"${keyword}"`);
  }
  // JS safe-integer bounds from zod must not leak into an int64 schema.
  expect(text).not.toContain(String(Number.MAX_SAFE_INTEGER));
});

test('the zod schema and the CRD agree on defaults', () => {
  const spec = serverImageSpecSchema.parse({
    serverRef: { name: 'web-01' },
    registry: { repository: 'registry.example.com/vm/web-01' },
  });
  expect(spec.deletionPolicy).toBe('Retain');
  expect(spec.registry.insecure).toBe(false);
});

test.each([
  ['registry.example.com/vm-images/web-01', true],
  ['127.0.0.1:5000/vm/web-01', true],
  ['localhost:5000/a/b/c', true],
  ['vm-images/web-01', false],
  ['registry.example.com/VM', false],
  ['registry.example.com', false],
])('repository %s valid: %s', (repository, valid) => {
  const parsed = serverImageSpecSchema.safeParse({ serverRef: { name: 'vm' }, registry: { repository } });
  expect(parsed.success).toBe(valid);
});
