// -o json|yaml: the object as the API server returned it, like kubectl -o.
import { stringify } from 'yaml';

export function formatObject(object: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(object, null, 2)}\n` : stringify(object);
}
