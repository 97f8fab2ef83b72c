import { z } from 'zod';

/** A KubeVirt object that does not look the way we rely on: a clear message, not a crash. */
export class UnexpectedObjectError extends Error {
  override name = 'UnexpectedObjectError';
}

export function parseObject<T extends z.ZodType>(schema: T, kind: string, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const meta = (value as { metadata?: { namespace?: string; name?: string } } | undefined)?.metadata;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new UnexpectedObjectError(
    `${kind} ${meta?.namespace ?? '?'}/${meta?.name ?? '?'} is not as expected: ${issues}`,
  );
}

/** The `status.conditions` KubeVirt objects carry (their own shape, not metav1.Condition). */
export const kubevirtConditionsSchema = z
  .array(
    z.looseObject({
      type: z.string(),
      status: z.string(),
      reason: z.string().optional(),
      message: z.string().optional(),
    }),
  )
  .optional();
