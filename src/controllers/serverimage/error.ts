// Error (Glance's killed): Nova purges the image when the compute side fails, and so do
// we: children and any image already pushed for this request. Once done, the
// Purged condition records it and nothing more happens.
import type { ReconcileResult } from '../../kube/index.js';
import type { Deps } from './deps.js';
import { removeChildren, deletePushedImages } from './cleanup.js';
import type { Scope } from './scope.js';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';

const PURGED = ConditionType.Purged;
const SESSION_RETRY_MS = 15_000;

export async function reconcileError(scope: Scope, deps: Deps): Promise<ReconcileResult | void> {
  if (scope.condition(PURGED)?.status === 'True') return;
  const removed: string[] = [];
  const left = await removeChildren(scope, deps, false, removed);
  if (left && left.pods.length > 0) {
    // Their deletion wakes us (the Pod informer); the requeue is a safety net.
    const message = `Waiting for transfer Pods ${left.pods.join(', ')} to stop`;
    scope.setCondition(PURGED, 'False', Reason.TransferPodStopping, message);
    return { requeueAfter: SESSION_RETRY_MS };
  }
  if (left?.session !== undefined) {
    // Retried until the registry confirms it gone: no upload session is left open for good.
    const message = `The upload session is not cancelled yet (${left.session}); trying again in ${SESSION_RETRY_MS / 1000}s`;
    scope.setCondition(PURGED, 'False', Reason.UploadSessionNotCancelled, message);
    return { requeueAfter: SESSION_RETRY_MS };
  }
  const failures = await deletePushedImages(scope, deps, removed);
  if (failures.length > 0) {
    const message = `Could not delete pushed images: ${failures.join('; ')}`;
    scope.setCondition(PURGED, 'False', Reason.ImagesNotDeleted, message);
    scope.event('Warning', Reason.ImagesNotDeleted, message);
    return;
  }
  scope.status.images = [];
  scope.setCondition(PURGED, 'True', Reason.Purged, purgedMessage(removed));
  return;
}

/** Says only what there was to remove: an image that failed before its snapshot made nothing. */
export function purgedMessage(removed: string[]): string {
  return removed.length === 0 ? 'Nothing had been made; nothing to remove' : `Removed ${removed.join(', ')}`;
}
