// The push step of Saving: each attempt is a transfer Pod of its own (src/transfer/), made
// here and read back here. The Pod's state is the record: a restarted or newly elected
// operator finds the Pod of the current attempt (deterministic name, owned by the
// ServerImage) and follows it instead of starting a second transfer of the image.
//
// The attempt is status.retry.attempts + 1 (failed attempts so far, kept in status, so a
// restart continues the budget):
// - its Pod pending: say why (the scheduler's words, the image pull ...); running: poll its
//   progress (transfer-progress.ts) and say it is pushing;
// - succeeded: its result's volumes go to status.images;
// - failed: the volumes it pushed go to status.images, its reason and message (pod-outcome.ts,
//   in the Pod's own words) go through the retry rule every step shares (retryOrGiveUp:
//   Error at once when no retry helps, else backoff until --registry-retry-timeout);
// - no Pod yet (the first attempt, or the one after a counted failure, once its backoff is
//   over): a new Pod, given the layers the failed attempt completed and the upload session it
//   left open; the failed Pod is deleted once its successor exists (it is the record of them).
import type { V1Pod } from '@kubernetes/client-node';
import type { ExportView } from '../../kubevirt/export.js';
import type { ReconcileResult } from '../../kube/index.js';
import { transferPod } from '../../transfer/pod-spec.js';
import { transferPodOutcome, type TransferPodOutcome } from '../../transfer/pod-outcome.js';
import type { TransferResult } from '../../transfer/result.js';
import type { Deps } from './deps.js';
import { formatDuration } from './durations.js';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';
import { registryHostOf } from './registry-host.js';
import { clearRetry, currentRetry, untilNextAttempt, waitingFor } from './retry-budget.js';
import { retryOrGiveUp, type Failure } from './retry-or-give-up.js';
import type { Scope } from './scope.js';
import { attemptOf } from './transfer-pods.js';
import { layersLeftBy, requestOf, transferRequest } from './transfer-request.js';
import { recordPushedVolumes } from './transfer-result.js';
import type { SelectedVolume } from './volume-selection.js';
import { UPLOAD_SESSION_ANNOTATION } from '../../api/metadata-keys.js';
import { SERVERIMAGE_OWNER_KIND } from '../../api/kinds.js';

const STEP = ConditionType.Pushed;

/** How often a pending Pod is looked at again: its graces (unschedulable, not starting) need a clock. */
const PENDING_RECHECK_MS = 10_000;

/** Failures that say the registry itself is down: every image pushing there backs off. */
const isRegistryOutage = (f: Failure) => f.reason === 'RegistryUnavailable';

/** The attempt under way or next: failed attempts so far (status.retry), plus one. */
export function currentAttempt(scope: Scope): number {
  return (currentRetry(scope, STEP)?.attempts ?? 0) + 1;
}

export async function pushStep(
  scope: Scope,
  deps: Deps,
  volumes: SelectedVolume[],
  exported: ExportView,
): Promise<ReconcileResult | void> {
  const attempt = currentAttempt(scope);
  const pods = deps.transferPods.of(scope.object);
  const latest = pods.at(-1);
  if (latest && attemptOf(latest) >= attempt) {
    const outcome = transferPodOutcome(latest, {
      now: scope.now.getTime(),
      unschedulableGraceMs: deps.config.transferUnschedulableTimeout,
    });
    return followPod(scope, deps, volumes, latest, outcome);
  }
  return startAttempt(scope, deps, volumes, exported, attempt, pods);
}

/** The current attempt's Pod exists: say what it does, or take its outcome. */
async function followPod(
  scope: Scope,
  deps: Deps,
  volumes: SelectedVolume[],
  pod: V1Pod,
  outcome: TransferPodOutcome,
): Promise<ReconcileResult | void> {
  const key = scope.key;
  const name = pod.metadata?.name ?? '';
  const host = registryHostOf(scope.object.spec.registry.repository);
  const recordedSession = scope.object.metadata.annotations?.[UPLOAD_SESSION_ANNOTATION];
  if (outcome.state !== 'running') deps.progress.stop(key);
  switch (outcome.state) {
    case 'pending':
      scope.markWaiting(STEP, Reason.TransferPodPending, capitalize(outcome.message));
      return { requeueAfter: PENDING_RECHECK_MS };
    case 'running': {
      if (outcome.podIP && !outcome.stopping) deps.progress.follow(key, outcome.podIP, recordedSession);
      const list = (requestOf(pod)?.volumes ?? []).map((v) => v.volume).join(', ');
      const what = outcome.stopping
        ? `Transfer Pod ${name} is stopping (${outcome.stopping}); waiting for its result`
        : `Pushing ${list} to ${scope.object.spec.registry.repository} in transfer Pod ${name}${attemptNote(scope)}`;
      scope.markWaiting(STEP, Reason.Pushing, what);
      return;
    }
    case 'succeeded': {
      const first = deps.transferPods.firstTake(pod);
      const added = recordPushedVolumes(
        scope,
        volumes,
        requestOf(pod),
        outcome.result,
        first ? deps.metrics : undefined,
      );
      if (added.length > 0 && first) logPodEnded(scope, pod, outcome.result);
      if (recordedSession) await deps.recordUploadSession(key, undefined);
      const pushed = new Set((scope.status.images ?? []).map((i) => i.volume));
      const missing = volumes.filter((v) => !pushed.has(v.name)).map((v) => v.name);
      if (missing.length === 0) {
        // The Pod ended between two progress polls: the last reading is short of the end.
        const total = (scope.status.images ?? []).reduce((sum, image) => sum + (image.diskSize ?? 0), 0);
        scope.status.progress = { bytesDone: total, bytesTotal: total };
        // Its images reach the next reconcile through our own status write.
        deps.registryBackoff.succeeded(host);
        clearRetry(scope, STEP);
        return;
      }
      // The result left volumes out to fit in 4096 bytes: they are pushed again (same bytes,
      // same digests), by the next attempt.
      return attemptFailed(scope, deps, pod, {
        reason: Reason.TransferResultIncomplete,
        retryable: true,
        message: `the transfer Pod ${name}'s result does not list volumes ${missing.join(', ')}`,
      });
    }
    case 'failed': {
      const first = deps.transferPods.firstTake(pod);
      recordPushedVolumes(scope, volumes, requestOf(pod), outcome.result, first ? deps.metrics : undefined);
      if (first) logPodEnded(scope, pod, outcome.result);
      // The Pod's word on its upload session is final; without a word (OOMKilled, SIGKILL)
      // the one last read from its progress stays recorded for the next attempt to cancel.
      if (outcome.result && outcome.result.uploadSession !== recordedSession)
        await deps.recordUploadSession(key, outcome.result.uploadSession);
      return attemptFailed(scope, deps, pod, outcome);
    }
  }
}

/** Counts the failed attempt: Error when no retry helps or the deadline has passed, else a later attempt. */
function attemptFailed(scope: Scope, deps: Deps, pod: V1Pod, failure: Failure): ReconcileResult | void {
  const host = registryHostOf(scope.object.spec.registry.repository);
  scope.event('Warning', failure.reason, capitalize(failure.message));
  const attempt = retryOrGiveUp(scope, STEP, failure, {
    deadlineMs: deps.config.registryRetryTimeout,
    sharedDelayMs: () => (isRegistryOutage(failure) ? deps.registryBackoff.failed(host) : 0),
    log: { message: 'transfer failed; retrying', fields: { pod: pod.metadata?.name } },
  });
  if (!attempt) return;
  const next = `attempt ${attempt.attempts + 1} in ${formatDuration(attempt.delayMs)}`;
  scope.markWaiting(STEP, Reason.Retrying, `${failure.reason}: ${capitalize(failure.message)}; ${next}`);
  return { requeueAfter: attempt.delayMs };
}

/** No Pod for this attempt yet: once its backoff is over, make it, then delete the earlier ones. */
async function startAttempt(
  scope: Scope,
  deps: Deps,
  volumes: SelectedVolume[],
  exported: ExportView,
  attempt: number,
  earlier: V1Pod[],
): Promise<ReconcileResult | void> {
  const si = scope.object;
  const host = registryHostOf(si.spec.registry.repository);
  const due = untilNextAttempt(scope, STEP);
  const own = scope.status.retry?.step === STEP;
  const left = own ? deps.config.registryRetryTimeout - waitingFor(scope, STEP) : Infinity;
  const shared = Math.min(deps.registryBackoff.waitFor(host, scope.key), Math.max(0, left));
  if (due > 0 || shared > 0) {
    const retry = scope.status.retry;
    const why = retry?.lastError ?? `registry ${host} is failing for other images`;
    const next = `attempt ${(retry?.attempts ?? 0) + 1} in ${formatDuration(Math.max(due, shared))}`;
    scope.markWaiting(STEP, Reason.Retrying, `${why}; ${next}`);
    return { requeueAfter: Math.max(due, shared) };
  }

  const previous = earlier.at(-1);
  const previousOutcome = previous && transferPodOutcome(previous, { now: scope.now.getTime() });
  const previousResult = previousOutcome && 'result' in previousOutcome ? previousOutcome.result : undefined;
  const request = transferRequest(scope, deps, volumes, exported, layersLeftBy(previous, previousResult));
  if (typeof request === 'string') {
    scope.fail(ConditionType.Exported, Reason.ExportIncomplete, request);
    return;
  }
  const names = deps.children.names(si);
  const pod = transferPod({
    owner: { ...SERVERIMAGE_OWNER_KIND, metadata: si.metadata, spec: si.spec },
    attempt,
    request,
    exportTokenSecret: names.exportToken,
    exporterNode: await deps.transferPods.exporterNode(si.metadata.namespace, names.export),
    settings: deps.config,
  });
  await deps.transferPods.create(pod);
  for (const old of earlier) await deps.transferPods.delete(old);
  const list = request.volumes.map((v) => v.volume).join(', ');
  // Pending until the Pod runs: then followPod says Pushing.
  scope.markWaiting(
    STEP,
    Reason.TransferPodPending,
    `Starting transfer Pod ${pod.metadata!.name} to push ${list} to ${si.spec.registry.repository}${attemptNote(scope)}`,
  );
  return;
}

/** One line per ended Pod: what it pushed in how long, its peak memory, when its container ran. */
function logPodEnded(scope: Scope, pod: V1Pod, result: TransferResult | undefined): void {
  const state = pod.status?.containerStatuses?.[0]?.state?.terminated;
  scope.log.info(
    {
      pod: pod.metadata?.name,
      created: pod.metadata?.creationTimestamp,
      started: state?.startedAt,
      finished: state?.finishedAt,
      volumes: result?.volumes.map((v) => ({ volume: v.volume, bytes: v.size, seconds: v.seconds })),
      peakRssBytes: result?.peakRssBytes,
      error: result?.error?.reason,
    },
    'transfer Pod ended',
  );
}

const attemptNote = (scope: Scope) =>
  scope.status.retry?.step === STEP ? ` (attempt ${scope.status.retry.attempts + 1})` : '';

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
