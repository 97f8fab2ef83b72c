// Condition lists as KubeVirt writes them: a condition keeps its lastTransitionTime
// while its status stays the same.
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string | null;
  lastProbeTime?: string | null;
}

export const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export function withTimes(previous: Condition[] | undefined, next: Condition[]): Condition[] {
  return next.map((c) => {
    const old = (previous ?? []).find((p) => p.type === c.type);
    const keep = old && old.status === c.status && old.reason === c.reason && old.message === c.message;
    return {
      lastProbeTime: null,
      ...c,
      lastTransitionTime: keep ? (old.lastTransitionTime ?? now()) : now(),
    };
  });
}

/** Replaces (or adds) one condition, keeping the others. */
export function setCondition(previous: Condition[] | undefined, c: Condition): Condition[] {
  const others = (previous ?? []).filter((p) => p.type !== c.type);
  const [updated] = withTimes(previous, [c]);
  return [...others, updated!];
}

/** Equal ignoring times, to skip writes that change nothing. */
export function sameConditions(a: Condition[] | undefined, b: Condition[] | undefined): boolean {
  const strip = (l: Condition[] | undefined) =>
    JSON.stringify((l ?? []).map((c) => [c.type, c.status, c.reason ?? '', c.message ?? '']));
  return strip(a) === strip(b);
}
