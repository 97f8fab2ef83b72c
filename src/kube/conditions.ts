// metav1.Condition bookkeeping, as apimachinery's meta.SetStatusCondition does it:
// lastTransitionTime moves only when status changes; reason, message and
// observedGeneration are refreshed in place.
import type { Condition } from '../api/condition.js';

export type { Condition };

export interface ConditionInput {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message?: string;
  /** The metadata.generation this condition was computed from. */
  observedGeneration?: number;
}

/** metav1.Time format: RFC 3339 in whole seconds, UTC. */
export function metaTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

export interface SetConditionResult {
  /** A new list; the input is not modified. */
  conditions: Condition[];
  /** Whether anything differs from the input (so a status write is needed). */
  changed: boolean;
}

/** Sets one condition in the list (added at the end when new). */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date = new Date(),
): SetConditionResult {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const existing = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message ?? '',
    lastTransitionTime:
      existing && existing.status === input.status ? existing.lastTransitionTime : metaTime(now),
    ...(input.observedGeneration !== undefined
      ? { observedGeneration: input.observedGeneration }
      : existing?.observedGeneration !== undefined
        ? { observedGeneration: existing.observedGeneration }
        : {}),
  };
  if (existing && sameCondition(existing, next)) return { conditions: list, changed: false };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return { conditions: list, changed: true };
}

/** Removes the condition of `type`, if present. */
export function removeCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): SetConditionResult {
  const list = (conditions ?? []).filter((c) => c.type !== type);
  return { conditions: list, changed: list.length !== (conditions?.length ?? 0) };
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.observedGeneration === b.observedGeneration &&
    a.lastTransitionTime === b.lastTransitionTime
  );
}
