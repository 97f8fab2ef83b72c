// A deleted ServerImage: stop its transfer Pods and wait until they are gone, remove its
// children, run the deletion policy on its registry tags, then let it go (remove the finalizer).
import type { Deps } from './deps.js';
import { removeChildren, deletePushedImages } from './cleanup.js';
import type { Scope } from './scope.js';

export type DeletionOutcome =
  /** Transfer Pods are still stopping: the finalizer stays until they are gone. */
  | { done: false; pods: string[] }
  /** The images that could not be deleted under policy Delete (the finalizer still goes). */
  | { done: true; failures: string[] };

export async function reconcileDeletion(scope: Scope, deps: Deps): Promise<DeletionOutcome> {
  // A registry that stays down must not hold the deletion: the session is logged and left
  // to the registry's own upload purging. A transfer Pod does hold it, for its grace period:
  // it cancels its own upload session on SIGTERM.
  const left = await removeChildren(scope, deps);
  if (left && left.pods.length > 0) return { done: false, pods: left.pods };
  if (scope.object.spec.deletionPolicy !== 'Delete') return { done: true, failures: [] };
  return { done: true, failures: await deletePushedImages(scope, deps) };
}
