// Adding and removing a finalizer. We merge-patch the whole metadata.finalizers list
// together with metadata.resourceVersion: the API server then refuses the write with
// 409 Conflict if the object changed since we read it, so a finalizer that someone
// else added or removed meanwhile is never lost by our list replacing theirs. A 409 is
// an ordinary error for the controller: it retries with backoff from the informer's
// newer copy. (A JSON patch with a `test` op on resourceVersion would do the same but
// answers 422, which reads like a bad request rather than a conflict.)
import { type KubernetesObject, type KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { isNotFound } from './errors.js';

export function hasFinalizer(obj: KubernetesObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

/** Adds `finalizer`; no request when it is already there. Returns the current object. */
export async function addFinalizer<T extends KubernetesObject>(
  api: KubernetesObjectApi,
  obj: T,
  finalizer: string,
): Promise<T> {
  if (hasFinalizer(obj, finalizer)) return obj;
  return writeFinalizers(api, obj, [...(obj.metadata?.finalizers ?? []), finalizer]);
}

/**
 * Removes `finalizer`; no request when it is not there. Returns the object as the server
 * answered (when it was being deleted and this was the last finalizer, that is its last
 * state: the server has deleted it), or undefined when it was already gone (404).
 */
export async function removeFinalizer<T extends KubernetesObject>(
  api: KubernetesObjectApi,
  obj: T,
  finalizer: string,
): Promise<T | undefined> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  try {
    return await writeFinalizers(
      api,
      obj,
      (obj.metadata?.finalizers ?? []).filter((f) => f !== finalizer),
    );
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function writeFinalizers<T extends KubernetesObject>(
  api: KubernetesObjectApi,
  obj: T,
  finalizers: string[],
): Promise<T> {
  const { apiVersion, kind } = obj;
  const { name, namespace, resourceVersion } = obj.metadata ?? {};
  if (!apiVersion || !kind || !name || !resourceVersion)
    throw new Error('a finalizer write needs apiVersion, kind, metadata.name and metadata.resourceVersion');
  const patch = { apiVersion, kind, metadata: { name, namespace, resourceVersion, finalizers } };
  return api.patch<T>(
    patch as unknown as T,
    undefined,
    undefined,
    undefined,
    undefined,
    PatchStrategy.MergePatch,
  );
}
