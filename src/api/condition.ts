import { z } from 'zod';

/** metav1.Condition, field for field, with the API server's own limits. */
export const conditionSchema = z
  .object({
    type: z
      .string()
      .max(316)
      .regex(
        /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
      )
      .describe('Type of condition in CamelCase, e.g. Ready, Snapshotted, Exported, Pushed.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition: True, False or Unknown.'),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('The .metadata.generation that the condition was set based upon.'),
    lastTransitionTime: z
      .string()
      .describe('Last time the condition changed from one status to another (RFC 3339).')
      .meta({ format: 'date-time' }),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe("Programmatic identifier, in CamelCase, of the condition's last transition."),
    message: z.string().max(32768).describe('Human-readable details of the transition; may be empty.'),
  })
  .describe('A metav1.Condition.');

export type Condition = z.infer<typeof conditionSchema>;

/** The condition type every kind of ours summarizes itself in (kstatus' Ready). */
export const READY = 'Ready';

/** The Ready condition of an object of ours, or of anything with metav1.Conditions in its status. */
export function readyCondition<C extends { type: string }>(
  object: { status?: { conditions?: readonly C[] } } | undefined,
): C | undefined {
  return object?.status?.conditions?.find((c) => c.type === READY);
}
