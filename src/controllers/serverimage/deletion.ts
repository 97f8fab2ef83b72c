// A deleted ServerImage: stop its work, remove its children, run the deletion policy
// on its registry tags, then let it go (remove the finalizer).
import type { Deps } from './deps.js';
import { removeChildren, deletePushedImages } from './cleanup.js';
import type { Scope } from './scope.js';

/** Returns the images that could not be deleted under policy Delete (the finalizer still goes). */
export async function reconcileDeletion(scope: Scope, deps: Deps): Promise<string[]> {
  // A registry that stays down must not hold the deletion: the session is logged and left
  // to the registry's own upload purging.
  await removeChildren(scope, deps);
  if (scope.object.spec.deletionPolicy !== 'Delete') return [];
  return deletePushedImages(scope, deps);
}
