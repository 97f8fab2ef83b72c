// Active's last step when spec.verify.boot is set: boot the image as a throw-away VMI and
// record whether it came up (status.verification, the Verified condition, an event, the
// metrics). The phase stays Active either way: the image exists. The start time is kept in
// status, so a restarted operator continues the same VMI and the same deadline; a result,
// once recorded, is final, and the VMI goes with it.
import type { CustomObjectsApi, KubernetesObject } from '@kubernetes/client-node';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';
import type { VerificationResult } from '../../api/serverimage.js';
import {
  apiCall,
  apiStatusCode,
  isAlreadyExists,
  isNotFound,
  keyOf,
  metaTime,
  type ObjectCache,
  type ReconcileResult,
} from '../../kube/index.js';
import { describeClientError } from '../../kube/client-error.js';
import { decideVerification, parseApiDuration } from './verification-decision.js';
import { VIRTUAL_MACHINE_INSTANCE } from '../../kubevirt/groups.js';
import { verificationVmiManifest, verificationVmiName, vmiState } from './verification-vmi.js';
import type { Deps } from './deps.js';
import type { Slots } from './slots.js';
import type { Scope } from './scope.js';
import type { ServerImageObject } from './types.js';

/** How soon a failed VMI create is tried again (within the deadline). */
const CREATE_RETRY_MS = 10_000;

export interface VerificationMetrics {
  verified(result: 'Verified' | 'VerificationFailed'): void;
}

/**
 * The throw-away VMIs: ours in the cache (label selector), their creation and deletion, and
 * the verification slots (--max-concurrent-verifications) they hold.
 */
export class VerificationVmis {
  constructor(
    private readonly custom: CustomObjectsApi,
    readonly cache: ObjectCache<KubernetesObject>,
    readonly slots: Slots,
  ) {}

  get(si: ServerImageObject): KubernetesObject | undefined {
    return this.cache.get(verificationVmiName(si), si.metadata.namespace);
  }

  async create(si: ServerImageObject, body: Record<string, unknown>): Promise<void> {
    const { namespace } = si.metadata;
    await apiCall(
      `creating VirtualMachineInstance ${namespace}/${verificationVmiName(si)}`,
      () => this.custom.createNamespacedCustomObject({ ...VIRTUAL_MACHINE_INSTANCE, namespace, body }),
      isAlreadyExists,
    );
  }

  /** Deletes the VMI; true when there was one to delete. */
  async delete(si: ServerImageObject): Promise<boolean> {
    const { namespace } = si.metadata;
    const name = verificationVmiName(si);
    const deleted = await apiCall(
      `deleting VirtualMachineInstance ${namespace}/${name}`,
      () => this.custom.deleteNamespacedCustomObject({ ...VIRTUAL_MACHINE_INSTANCE, namespace, name }),
      isNotFound,
    );
    this.slots.release(keyOf(si.metadata));
    return deleted !== undefined;
  }
}

/** A create that will not succeed by trying again: refused (403, 422, ...), not overloaded. */
const permanent = (err: unknown) => {
  const code = apiStatusCode((err as { cause?: unknown }).cause ?? err);
  return code !== undefined && code >= 400 && code < 500 && code !== 409 && code !== 429;
};

export async function verificationStep(scope: Scope, deps: Deps): Promise<ReconcileResult | void> {
  const si = scope.object;
  const boot = si.spec.verify?.boot;
  if (!boot || !deps.verification) return;
  const vmis = deps.verification;
  const recorded = scope.status.verification;
  const present = vmis.get(si);
  if (recorded && recorded.result !== 'Verifying') {
    // Final: the VMI goes (a restart between the result and the delete finds it here).
    if (present && !present.metadata?.deletionTimestamp) await vmis.delete(si);
    return;
  }
  const bootImage = scope.status.images?.[0];
  if (!bootImage || bootImage.chunked || si.spec.format.layout === 'chunked') {
    if (scope.condition(ConditionType.Verified)?.reason !== Reason.VerificationNotPossible) {
      const message =
        'Not verified: an incremental backup (format.layout chunked) is no containerDisk to boot; ' +
        'restore it (`serverimage restore`) to boot it';
      scope.setCondition(ConditionType.Verified, 'False', Reason.VerificationNotPossible, message);
      scope.event('Normal', Reason.VerificationNotPossible, message);
    }
    return;
  }

  const timeoutMs = parseApiDuration(boot.timeout);
  const lastError = recorded?.message && !present ? recorded.message : undefined;
  const step = decideVerification({
    now: scope.now,
    startTime: recorded?.startTime,
    timeoutMs,
    check: boot.check,
    vmi: present ? vmiState(present) : undefined,
    lastError,
  });
  // A VMI to create takes a verification slot first; the deadline starts once it has one.
  if ((step.action === 'start' || step.action === 'create') && !vmis.slots.reserve(scope.key)) {
    const message = `Waiting for a free verification slot (${deps.config.maxConcurrentVerifications} at once) before booting the image`;
    if (scope.condition(ConditionType.Verified)?.reason !== Reason.WaitingForVerificationSlot) {
      scope.setCondition(ConditionType.Verified, 'Unknown', Reason.WaitingForVerificationSlot, message);
      scope.event('Normal', Reason.WaitingForVerificationSlot, message);
    }
    return; // a freed slot wakes us
  }
  switch (step.action) {
    case 'start':
    case 'create': {
      if (step.action === 'start') {
        scope.status.verification = { result: 'Verifying', startTime: metaTime(scope.now) };
        const message = `Booting ${si.spec.registry.repository}@${bootImage.digest} as VirtualMachineInstance ${verificationVmiName(si)} (check ${boot.check}, timeout ${boot.timeout})`;
        scope.setCondition(ConditionType.Verified, 'Unknown', Reason.Verifying, message);
        scope.event('Normal', Reason.Verifying, message);
      }
      try {
        const vm = deps.vms.get(si.spec.serverRef.name, si.metadata.namespace);
        await vmis.create(si, verificationVmiManifest(si, vm));
        if (scope.status.verification?.message) delete scope.status.verification.message;
      } catch (err) {
        const why = describeClientError(err);
        if (permanent(err)) {
          finish(scope, deps, 'VerificationFailed', `The VMI could not be created: ${why}`);
          return;
        }
        scope.status.verification = { ...scope.status.verification!, message: why };
        scope.log.warn({ error: why }, 'could not create the verification VMI; trying again');
        return { requeueAfter: CREATE_RETRY_MS };
      }
      // The VMI's changes wake us; at the latest, the deadline does.
      const started = new Date(scope.status.verification?.startTime ?? scope.now).getTime();
      return { requeueAfter: Math.max(1000, started + timeoutMs - scope.now.getTime()) };
    }
    case 'wait':
      return { requeueAfter: step.requeueAfterMs };
    case 'verified':
      finish(scope, deps, 'Verified', step.message);
      if (present) await vmis.delete(si);
      return;
    case 'failed':
      finish(scope, deps, 'VerificationFailed', step.message);
      if (present) await vmis.delete(si);
      return;
  }
}

function finish(
  scope: Scope,
  deps: Deps,
  result: Exclude<VerificationResult, 'Verifying'>,
  message: string,
): void {
  const ok = result === 'Verified';
  scope.status.verification = {
    result,
    startTime: scope.status.verification?.startTime ?? metaTime(scope.now),
    completionTime: metaTime(scope.now),
    message,
  };
  const reason = ok ? Reason.BootVerified : Reason.BootFailed;
  scope.setCondition(ConditionType.Verified, ok ? 'True' : 'False', reason, message);
  scope.event(ok ? 'Normal' : 'Warning', reason, message);
  deps.verificationMetrics?.verified(result);
  if (ok) scope.log.info({ message }, 'image verified');
  else scope.log.warn({ message }, 'image verification failed');
}
