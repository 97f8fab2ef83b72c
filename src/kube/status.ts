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
