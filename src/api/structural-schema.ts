// Turns a zod schema into a Kubernetes structural OpenAPI v3 schema. zod's JSON
// Schema output is close; the API server wants a few things otherwise.
import { z } from 'zod';

type JsonSchema = Record<string, unknown>;

const SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

function clean(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(clean);
  if (node === null || typeof node !== 'object') return node;
  const schema: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    // Not part of Kubernetes' schema dialect.
    if (key === '$schema' || key === 'propertyNames' || key === 'id') continue;
    schema[key] =
      key === 'x-kubernetes-validations' || key === 'enum' || key === 'required' ? value : clean(value);
  }
  if (schema.type === 'integer') {
    // zod bounds every int by the JS safe range; Kubernetes stores int64.
    if (SAFE_INTEGER_BOUNDS.has(schema.minimum as number)) delete schema.minimum;
    if (SAFE_INTEGER_BOUNDS.has(schema.maximum as number)) delete schema.maximum;
    schema.format = 'int64';
  }
  // A date-time string is validated by its format; zod's RFC 3339 regex would only cost CEL budget.
  if (schema.format === 'date-time') delete schema.pattern;
  return schema;
}

export function structuralSchema(schema: z.ZodType): JsonSchema {
  return clean(
    z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' }),
  ) as JsonSchema;
}
