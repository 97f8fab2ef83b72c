// Nova lists "the connection to the Image service is valid" as a precondition of
// createImage; so is it here, checked in Queued before the VM is touched: the repository's
// host is allowed, the credentials and CA Secrets resolve, the registry authenticates us
// (bearer challenge with push scope included) and lets us open an upload session, which is
// cancelled at once. Refused credentials or access fail at once, with nothing snapshotted;
// an unreachable registry or a missing Secret is waited for with backoff until
// --registry-retry-timeout, counted from status.retry so a restart continues the budget.
import type { ReconcileResult } from '../../kube/index.js';
import type { Deps } from './deps.js';
import { formatDuration } from './durations.js';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';
import { clearRetry, currentRetry, untilNextAttempt, waitingFor } from './retry-budget.js';
import type { Scope } from './scope.js';
import { describeFailure, retryOrGiveUp } from './retry-or-give-up.js';
import { registryAllowed } from './allowed-registries.js';
import { registryHostOf } from './registry-host.js';

const STEP = ConditionType.RegistryReady;

/** --allowed-registries: checked before anything else, no request made. False when refused (Error). */
export function checkRegistryAllowed(scope: Scope, deps: Deps): boolean {
  const host = registryHostOf(scope.object.spec.registry.repository);
  if (registryAllowed(host, deps.config.allowedRegistries)) return true;
  scope.fail(
    STEP,
    Reason.RegistryNotAllowed,
    `Registry ${host} is not one this operator may push to (allowed: ${deps.config.allowedRegistries.join(', ')}); ask your platform team`,
  );
  return false;
}

/** `{ ready: true }` once a push is proven possible; otherwise the phase stops (waiting or Error). */
export async function checkRegistryReady(
  scope: Scope,
  deps: Deps,
): Promise<{ ready: true } | { ready: false; result: ReconcileResult | void }> {
  const si = scope.object;
  const repository = si.spec.registry.repository;
  const host = registryHostOf(repository);
  const due = untilNextAttempt(scope, STEP);
  const own = currentRetry(scope, STEP);
  // The host's shared backoff, but never past this image's own deadline: its last
  // attempt is made at the deadline.
  const left = own ? deps.config.registryRetryTimeout - waitingFor(scope, STEP) : Infinity;
  const shared = Math.min(deps.registryBackoff.waitFor(host, scope.key), Math.max(0, left));
  if (due > 0 || shared > 0) {
    // Our own last failure is in the condition already; a backoff other images of this
    // registry started is said here.
    if (!own) {
      scope.markWaiting(
        STEP,
        Reason.WaitingForRegistry,
        `Registry ${host} is failing for other images (${deps.registryBackoff.failures(host)} failures in a row); ` +
          `next try in ${formatDuration(shared)}; nothing is snapshotted until the registry answers`,
      );
    }
    return { ready: false, result: { requeueAfter: Math.max(due, shared) } };
  }
  try {
    const registry = await deps.registryFor(si, { probe: true });
    try {
      await registry.checkPushAccess();
    } finally {
      await registry.close();
    }
  } catch (err) {
    return { ready: false, result: registryFailed(scope, deps, host, err) };
  }
  deps.registryBackoff.succeeded(host);
  if (currentRetry(scope, STEP)) scope.log.info({ registry: host }, 'registry reachable again');
  clearRetry(scope, STEP);
  scope.setCondition(STEP, 'True', Reason.Succeeded, `Push to ${repository} allowed`);
  return { ready: true };
}

function registryFailed(scope: Scope, deps: Deps, host: string, err: unknown): ReconcileResult | void {
  const failure = describeFailure(err);
  const attempt = retryOrGiveUp(scope, STEP, failure, {
    deadlineMs: deps.config.registryRetryTimeout,
    sharedDelayMs: () => deps.registryBackoff.failed(host),
    giveUpReason: (f) => (f.reason === 'CredentialsNotFound' ? f.reason : Reason.RegistryUnavailable),
    log: { message: 'registry precondition failed; retrying', fields: { registry: host } },
  });
  if (!attempt) return;
  const { reason, message } = failure;
  const left = deps.config.registryRetryTimeout - attempt.failingForMs;
  scope.markWaiting(
    STEP,
    Reason.WaitingForRegistry,
    `${reason}: ${message}; attempt ${attempt.attempts + 1} in ${formatDuration(attempt.delayMs)}, ` +
      `giving up in ${formatDuration(left)}; nothing is snapshotted until the registry answers`,
  );
  return { requeueAfter: attempt.delayMs };
}
