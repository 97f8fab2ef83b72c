// Work-queue keys, as client-go's cache.MetaNamespaceKeyFunc makes them:
// "namespace/name" for namespaced objects, "name" for cluster-scoped ones.
import type { KubernetesObject } from '@kubernetes/client-node';

export interface ObjectName {
  namespace?: string;
  name: string;
}

export function keyOf(ref: ObjectName): string {
  return ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name;
}

export function objectKey(obj: KubernetesObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`object of kind ${obj.kind ?? '?'} has no metadata.name`);
  return keyOf({ namespace: obj.metadata?.namespace, name });
}

export function splitKey(key: string): ObjectName {
  const parts = key.split('/');
  if (parts.length === 1 && parts[0]) return { name: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], name: parts[1] };
  throw new Error(`not a namespace/name key: ${JSON.stringify(key)}`);
}
