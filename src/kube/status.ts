// Writing status: a JSON merge patch on the `status` subresource of a custom resource.
// A merge patch replaces lists whole (conditions, images), sets the fields given and
// deletes those set to null; spec and metadata cannot change through /status.
// Strategic merge patch is not supported for custom resources (415), hence the header.
import {
  type CustomObjectsApi,
  type KubernetesObject,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import type { ResourceRef } from './resource.js';

export interface StatusPatchTarget {
  resource: Pick<ResourceRef, 'group' | 'version' | 'plural'>;
  namespace: string;
  name: string;
}

export interface StatusPatchOptions {
  /**
   * Optimistic lock: the write fails with 409 Conflict when the object changed since
   * this resourceVersion (controller-runtime's MergeFromWithOptimisticLock).
   */
  resourceVersion?: string;
  fieldManager?: string;
}

/** Merge-patches `status` and returns the object as the server stored it. */
export async function patchStatus<T extends KubernetesObject = KubernetesObject>(
  api: CustomObjectsApi,
  target: StatusPatchTarget,
  status: Record<string, unknown>,
  options: StatusPatchOptions = {},
): Promise<T> {
  const body: Record<string, unknown> = { status };
  if (options.resourceVersion !== undefined) body.metadata = { resourceVersion: options.resourceVersion };
  return (await api.patchNamespacedCustomObjectStatus(
    {
      group: target.resource.group,
      version: target.resource.version,
      plural: target.resource.plural,
      namespace: target.namespace,
      name: target.name,
      body,
      fieldManager: options.fieldManager,
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  )) as T;
}

/**
 * The top-level fields of `after` that differ from `before` (a removed one as null, which a
 * merge patch reads as delete); undefined when none. A reconcile writes only these, so it
 * never overwrites a field something else wrote meanwhile.
 */
export function changedFields(before: object, after: object): Record<string, unknown> | undefined {
  const changes: Record<string, unknown> = {};
  const was = before as Record<string, unknown>;
  const is = after as Record<string, unknown>;
  for (const key of new Set([...Object.keys(was), ...Object.keys(is)])) {
    if (!isDeepStrictEqual(was[key], is[key])) changes[key] = is[key] ?? null;
  }
  return Object.keys(changes).length > 0 ? changes : undefined;
}
