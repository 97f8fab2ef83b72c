// Active: every image is pushed and verified (Saving's exit, in saving.ts, said whether the
// VM is back in the state it had at request time). Remove the snapshot and export, which
// and the transfer Pods, which are only means to an end.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ReconcileResult } from '../../kube/index.js';
import type { Deps } from './deps.js';
import type { Scope } from './scope.js';
import { verificationStep } from './verification.js';

/**
 * Active is final; the clean-up of children is left, and it is idempotent; then the boot
 * verification when asked for (verification.ts).
 */
export async function reconcileActive(scope: Scope, deps: Deps): Promise<ReconcileResult | void> {
  const si = scope.object;
  const names = deps.children.names(si);
  const { namespace } = si.metadata;
  // An object already being deleted (KubeVirt's finalizers at work) needs no second delete.
  const present = (o: KubernetesObject | undefined) => o !== undefined && !o.metadata?.deletionTimestamp;
  const leftovers =
    present(deps.exports.get(names.export, namespace)) ||
    (!deps.config.keepSnapshots && present(deps.snapshots.get(names.snapshot, namespace)));
  if (leftovers) await deps.children.delete(si, deps.config.keepSnapshots);
  // The transfer Pod's result is in status.images: the Pod has done its work.
  deps.progress.stop(scope.key);
  await deps.transferPods.deleteAll(si);
  // The export is gone: its transfer slot is free for the next image.
  deps.slots.release(scope.key);
  return verificationStep(scope, deps);
}
