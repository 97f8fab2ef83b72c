// The ServerImage reconciler: a thin dispatcher. Deletion first, then the finalizer,
// then the function of the current phase (one file each); the status draft is written
// once at the end and the events it collected are recorded - also when the phase threw,
// so a failing API call shows in `kubectl describe` (Ready says what failed) and the
// reconcile is retried with backoff.
import type { CustomObjectsApi, KubernetesObjectApi } from '@kubernetes/client-node';
import {
  type EventRecorder,
  type ReconcileResult,
  addFinalizer,
  hasFinalizer,
  patchStatus,
  removeFinalizer,
  withFields,
} from '../../kube/index.js';
import { reconcileActive } from './active.js';
import { reconcileDeletion } from './deletion.js';
import type { Deps } from './deps.js';
import { reconcileError } from './error.js';
import { reconcileQueued } from './queued.js';
import { reconcileSaving } from './saving.js';
import { Scope } from './scope.js';
import { SERVERIMAGE_RESOURCE } from '../../api/kinds.js';
import { FIELD_MANAGER, SERVERIMAGE_FINALIZER } from '../../api/metadata-keys.js';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';

/** How often a deleted ServerImage looks again for its transfer Pods to be gone. */
const POD_STOP_RECHECK_MS = 5000;

export class ServerImageReconciler {
  constructor(
    private readonly deps: Deps,
    private readonly custom: CustomObjectsApi,
    private readonly objects: KubernetesObjectApi,
    private readonly recorder: EventRecorder,
  ) {}

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const si = this.deps.serverImages.getByKey(key);
    if (!si) {
      // Gone (its finalizer ran, or it was never ours to finish): its Pods go with it (owner
      // references); what is left here is memory.
      this.deps.progress.stop(key);
      this.deps.slots.release(key);
      this.deps.verification?.slots.release(key);
      return;
    }
    const scope = new Scope(
      si,
      new Date(this.deps.clock.now()),
      withFields(this.deps.logger, { serverimage: key }),
    );
    if (si.metadata.deletionTimestamp) {
      if (!hasFinalizer(si, SERVERIMAGE_FINALIZER)) return;
      const deletion = await reconcileDeletion(scope, this.deps);
      if (!deletion.done) {
        scope.log.info({ pods: deletion.pods }, 'waiting for transfer Pods to stop');
        // Their deletion wakes us (the Pod informer); the requeue is a safety net.
        return { requeueAfter: POD_STOP_RECHECK_MS };
      }
      const failures = deletion.failures;
      if (failures.length > 0) {
        await this.recorder.warning(
          si,
          Reason.ImagesNotDeleted,
          `Deletion policy Delete: ${failures.join('; ')}`,
        );
      }
      await removeFinalizer(this.objects, si, SERVERIMAGE_FINALIZER);
      return;
    }
    if (!hasFinalizer(si, SERVERIMAGE_FINALIZER)) await addFinalizer(this.objects, si, SERVERIMAGE_FINALIZER);

    let result: ReconcileResult | void = undefined;
    let failure: unknown;
    try {
      result = await this.runPhase(scope);
    } catch (err) {
      failure = err;
      scope.reconcileFailed(err);
    }
    scope.summarize();
    await this.writeStatus(scope);
    for (const event of scope.events) await this.recorder.event(si, event.type, event.reason, event.message);
    logOutcome(scope);
    // The controller logs it (once) and retries with the key's backoff.
    if (failure !== undefined) throw failure;
    return result ?? undefined;
  }

  private runPhase(scope: Scope): ReconcileResult | void | Promise<ReconcileResult | void> {
    switch (scope.phase) {
      case undefined:
      case 'Queued':
        return reconcileQueued(scope, this.deps);
      case 'Saving':
        return reconcileSaving(scope, this.deps);
      case 'Active':
        return reconcileActive(scope, this.deps);
      case 'Error':
        return reconcileError(scope, this.deps);
    }
  }

  private async writeStatus(scope: Scope): Promise<void> {
    const changes = scope.statusChanges();
    if (!changes) return;
    await patchStatus(
      this.custom,
      {
        resource: SERVERIMAGE_RESOURCE,
        namespace: scope.object.metadata.namespace,
        name: scope.object.metadata.name,
      },
      changes,
      { fieldManager: FIELD_MANAGER },
    );
  }
}

/** Phase changes (info) and terminal failures (warn), once each, as they are written. */
function logOutcome(scope: Scope): void {
  if (scope.phase === scope.observedPhase) return;
  const ready = scope.condition(ConditionType.Ready);
  const fields = {
    from: scope.observedPhase ?? null,
    to: scope.phase,
    reason: ready?.reason,
    message: ready?.message,
  };
  if (scope.phase === 'Error') scope.log.warn(fields, 'image failed');
  else scope.log.info(fields, 'phase changed');
}
