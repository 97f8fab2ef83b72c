// Error (Glance's killed): Nova purges the image when the compute side fails, and so do
// we: children and any image already pushed for this request. Once done, the
// Purged condition records it and nothing more happens.
import type { Deps, PhaseResult } from './deps.js';
import { purgeChildren, purgeImages } from './purge.js';
import type { Scope } from './scope.js';

const PURGED = 'Purged';

export async function reconcileError(scope: Scope, deps: Deps): Promise<PhaseResult> {
  if (scope.condition(PURGED)?.status === 'True') return;
  await purgeChildren(scope, deps);
  const failures = await purgeImages(scope, deps);
  if (failures.length > 0) {
    const message = `Could not delete pushed images: ${failures.join('; ')}`;
    scope.setCondition(PURGED, 'False', 'ImagesNotDeleted', message);
    scope.event('Warning', 'ImagesNotDeleted', message);
    return;
  }
  scope.status.images = [];
  scope.setCondition(PURGED, 'True', 'Purged', 'Snapshot, export and partly pushed images removed');
  return;
}
