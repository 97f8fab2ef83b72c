// Equality of JSON values regardless of key order. The API server hands custom resources
// back with their keys sorted (Go's JSON encoding of a map), not in the order they were
// written: an order-sensitive compare of status the simulator computed against status it
// read makes every reconcile look like a change, and write (issue 11: 101 status patches of
// one idle VM in a minute). Undefined and null count as absent, as in a merge patch.
export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined && v !== null)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}

export const sameJson = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b);
