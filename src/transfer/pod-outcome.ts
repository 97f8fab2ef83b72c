// A transfer Pod as the API server returns it, read as one outcome: pending (and why),
// running, succeeded (the decoded result), or failed, with a reason and message a person
// reads on the ServerImage and whether another attempt can help. The words are the Pod's
// own where it has them (the kubelet's pull error, the scheduler's message, the eviction's)
// and name the setting to change where one helps (OOMKilled: the memory limit).
//
// An outcome is final (succeeded or failed) only when no process of the Pod can still be
// running: a Pod being deleted whose container has not ended yet is still `running`
// (`stopping` says why), so the next attempt never overlaps this one and the result it
// writes on SIGTERM (its upload session, a completed layer) is not lost.
import type { V1ContainerStatus, V1Pod, V1PodCondition } from '@kubernetes/client-node';
import { Reason } from '../api/serverimage-conditions.js';
import { decodeResult, EXIT, type TransferResult } from './result.js';

/**
 * How long a Pod may stay unschedulable before that is a failure. The scheduler retries an
 * unschedulable Pod on every cluster change that could help it and at least every 5 minutes
 * (kube-scheduler's podMaxInUnschedulablePodsDuration), and a cluster autoscaler adds a
 * node for it within a few minutes: by then a Pod still unschedulable waits for a person.
 */
export const UNSCHEDULABLE_GRACE_MS = 5 * 60_000;
/**
 * How long a scheduled Pod may take to start its container (ContainerCreating). Its
 * reasons (a Secret volume that cannot be mounted, a CNI that gives no address) are only
 * in Events, never in the Pod's status: past this, the outcome says where to look.
 */
export const START_GRACE_MS = 5 * 60_000;

export const TRANSFER_CONTAINER = 'transfer';

/**
 * The reasons of a failed transfer Pod (its result's own reasons come through as they are);
 * their one home is the API's vocabulary (src/api/serverimage-conditions.ts).
 */
export const PodFailure = {
  OOMKilled: Reason.TransferPodOOMKilled,
  ImagePull: Reason.TransferImagePullFailed,
  Unschedulable: Reason.TransferPodUnschedulable,
  NotStarting: Reason.TransferPodNotStarting,
  ContainerError: Reason.TransferPodContainerError,
  /** Ended without a result: killed by a signal, or crashed before writing one. */
  Killed: Reason.TransferPodKilled,
  /** Exited 0 but its termination message is not a result (lost, or not ours). */
  ResultMissing: Reason.TransferPodResultMissing,
  /** No scheduler has looked at it (none running under its schedulerName). */
  NotScheduled: Reason.TransferPodNotScheduled,
  Evicted: Reason.TransferPodEvicted,
  Preempted: Reason.TransferPodPreempted,
  NodeLost: Reason.TransferPodNodeLost,
  Deleted: Reason.TransferPodDeleted,
  DeadlineExceeded: Reason.TransferPodDeadlineExceeded,
} as const;

export type TransferPodOutcome =
  | { state: 'pending'; reason: string; message: string }
  | { state: 'running'; node?: string; podIP?: string; stopping?: string }
  | { state: 'succeeded'; result: TransferResult }
  | {
      state: 'failed';
      reason: string;
      message: string;
      retryable: boolean;
      /** What the Pod wrote before it ended (pushed volumes, a completed layer, an open session). */
      result?: TransferResult;
      exitCode?: number;
    };

export interface OutcomeOptions {
  /** Now, in ms since the epoch (the graces are measured against the Pod's own timestamps). */
  now: number;
  unschedulableGraceMs?: number;
  startGraceMs?: number;
}

const MEMORY_SETTING = '--transfer-memory-limit (Helm value transfer.resources.limits.memory)';

export function transferPodOutcome(pod: V1Pod, options: OutcomeOptions): TransferPodOutcome {
  const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const status = pod.status ?? {};
  const container = containerStatus(pod);
  const terminated = container?.state?.terminated;
  const result = decodeResult(terminated?.message);
  const disruption = condition(pod, 'DisruptionTarget');
  // Why the Pod is being stopped, in the words of whoever stopped it.
  const stoppedBy = disruption?.status === 'True' ? disruptionWords(disruption) : undefined;

  if (status.phase === 'Succeeded' && result?.succeeded) return { state: 'succeeded', result };

  if (status.reason === 'Evicted')
    return failed(
      PodFailure.Evicted,
      `the transfer Pod ${name} was evicted by its node's kubelet: ${words(status.message)}`,
      true,
      result,
      terminated?.exitCode,
    );
  if (status.reason === 'DeadlineExceeded')
    return failed(
      PodFailure.DeadlineExceeded,
      `the transfer Pod ${name} ran longer than its activeDeadlineSeconds (${pod.spec?.activeDeadlineSeconds ?? '?'} s): ${words(status.message)}`,
      false,
      result,
      terminated?.exitCode,
    );

  if (terminated) {
    if (terminated.reason === 'OOMKilled') {
      const limit = container && memoryLimit(pod, container.name);
      return failed(
        PodFailure.OOMKilled,
        `the transfer Pod ${name} was killed for using more memory than its limit${limit ? ` of ${limit}` : ''} (OOMKilled); raise ${MEMORY_SETTING}`,
        true,
        result,
        terminated.exitCode,
      );
    }
    if (result?.error) {
      const cancelled = result.error.reason === Reason.TransferCancelled;
      if (cancelled && disruption?.status === 'True')
        return failed(
          disruptionReason(disruption),
          `the transfer Pod ${name} was stopped: ${stoppedBy}`,
          true,
          result,
          terminated.exitCode,
        );
      return failed(
        result.error.reason,
        result.error.message,
        result.error.retryable,
        result,
        terminated.exitCode,
      );
    }
    if (result?.succeeded)
      // The container ended well but the Pod is not (yet) Succeeded: the result is what counts.
      return { state: 'succeeded', result };
    return diedWithoutResult(name, terminated, stoppedBy, disruption);
  }

  const waiting = container?.state?.waiting;
  if (waiting?.reason === 'ErrImagePull' || waiting?.reason === 'ImagePullBackOff')
    return failed(
      PodFailure.ImagePull,
      `the transfer Pod ${name} cannot pull its image ${imageOf(pod)} (${waiting.reason}): ${words(waiting.message)}; the image comes from --transfer-image (the chart sets the operator's image) and must be pullable in the ServerImage's namespace`,
      true,
    );
  if (waiting?.reason === 'InvalidImageName' || waiting?.reason === 'ErrImageNeverPull')
    return failed(
      PodFailure.ImagePull,
      `the transfer Pod ${name} cannot use its image ${imageOf(pod)} (${waiting.reason}): ${words(waiting.message)}; check --transfer-image`,
      false,
    );
  if (waiting && CONTAINER_ERRORS.has(waiting.reason ?? ''))
    return failed(
      PodFailure.ContainerError,
      `the transfer Pod ${name} could not start its container (${waiting.reason}): ${words(waiting.message)}`,
      true,
    );

  // The Pod ended (its node lost, PodGC) without the container's own word.
  if (status.phase === 'Failed' || status.phase === 'Unknown') {
    if (disruption?.status === 'True')
      return failed(disruptionReason(disruption), `the transfer Pod ${name} was stopped: ${stoppedBy}`, true);
    return failed(
      PodFailure.Killed,
      `the transfer Pod ${name} ended ${status.phase === 'Unknown' ? 'in phase Unknown (its node stopped reporting)' : 'Failed'} without a result${status.message ? `: ${status.message}` : ''}`,
      true,
    );
  }

  if (container?.state?.running)
    return {
      state: 'running',
      ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
      ...(status.podIP ? { podIP: status.podIP } : {}),
      ...(pod.metadata?.deletionTimestamp ? { stopping: stoppedBy ?? 'the Pod is being deleted' } : {}),
    };

  // Deleted before its container ran: nothing of it runs, nothing was sent.
  if (pod.metadata?.deletionTimestamp)
    return failed(
      disruption?.status === 'True' ? disruptionReason(disruption) : PodFailure.Deleted,
      `the transfer Pod ${name} was deleted before it started${stoppedBy ? `: ${stoppedBy}` : ''}`,
      true,
    );

  return pending(pod, name, waiting?.reason, options);
}

/** The transfer Pod was expected but the API server has none: deleted and gone before it ended. */
export function transferPodGone(namespace: string, name: string): TransferPodOutcome {
  return failed(
    PodFailure.Deleted,
    `the transfer Pod ${namespace}/${name} was deleted before it reported a result`,
    true,
  );
}

/** The kubelet's reasons for a container it could not create or start (no image pull). */
const CONTAINER_ERRORS = new Set([
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'StartError',
  'PreCreateHookError',
  'PreStartHookError',
]);

function pending(
  pod: V1Pod,
  name: string,
  waitingReason: string | undefined,
  options: OutcomeOptions,
): TransferPodOutcome {
  const scheduled = condition(pod, 'PodScheduled');
  if (!pod.spec?.nodeName) {
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
      const since = time(scheduled.lastTransitionTime) ?? time(pod.metadata?.creationTimestamp);
      const grace = options.unschedulableGraceMs ?? UNSCHEDULABLE_GRACE_MS;
      const message = `the transfer Pod ${name} cannot be scheduled: ${words(scheduled.message)}`;
      if (since !== undefined && options.now - since >= grace)
        return failed(
          PodFailure.Unschedulable,
          `${message} (for ${minutes(options.now - since)}); its nodeSelector, tolerations, priority class and requests come from --transfer-node-selector, --transfer-tolerations, --transfer-priority-class-name and --transfer-cpu-request/--transfer-memory-request (Helm values transfer.*)`,
          false,
        );
      return { state: 'pending', reason: 'Unschedulable', message };
    }
    if (scheduled?.status === 'False')
      return {
        state: 'pending',
        reason: scheduled.reason ?? 'NotScheduled',
        message: `the transfer Pod ${name} is not scheduled yet: ${words(scheduled.message ?? scheduled.reason)}`,
      };
    const scheduler = pod.spec?.schedulerName ?? 'default-scheduler';
    const created = time(pod.metadata?.creationTimestamp);
    // A scheduler answers at once (bound or Unschedulable): silence this long means none runs.
    if (
      created !== undefined &&
      options.now - created >= (options.unschedulableGraceMs ?? UNSCHEDULABLE_GRACE_MS)
    )
      return failed(
        PodFailure.NotScheduled,
        `no scheduler has looked at the transfer Pod ${name} in ${minutes(options.now - created)}: is the scheduler ${scheduler} running?`,
        true,
      );
    return {
      state: 'pending',
      reason: 'WaitingForScheduler',
      message: `the transfer Pod ${name} waits for the scheduler (${scheduler}) to place it`,
    };
  }
  const reason = waitingReason ?? 'ContainerCreating';
  const since =
    time(scheduled?.status === 'True' ? scheduled.lastTransitionTime : undefined) ??
    time(pod.metadata?.creationTimestamp);
  const grace = options.startGraceMs ?? START_GRACE_MS;
  if (since !== undefined && options.now - since >= grace)
    return failed(
      PodFailure.NotStarting,
      `the transfer Pod ${name} has not started on node ${pod.spec.nodeName} in ${minutes(options.now - since)} (${reason}); its events say why (kubectl describe pod -n ${pod.metadata?.namespace} ${pod.metadata?.name}): a Secret volume that cannot be mounted, an image still pulling, no Pod network`,
      true,
    );
  return {
    state: 'pending',
    reason,
    message: `the transfer Pod ${name} is starting on node ${pod.spec.nodeName} (${reason})`,
  };
}

/** A container that ended and wrote no result: what its exit code and the Pod say. */
function diedWithoutResult(
  name: string,
  terminated: NonNullable<NonNullable<V1ContainerStatus['state']>['terminated']>,
  stoppedBy: string | undefined,
  disruption: V1PodCondition | undefined,
): TransferPodOutcome {
  const code = terminated.exitCode;
  const signal = terminated.signal ?? (code > 128 && code < 160 ? code - 128 : undefined);
  const how = `exit code ${code}${signal ? ` (${SIGNALS[signal] ?? `signal ${signal}`})` : ''}${terminated.reason && terminated.reason !== 'Error' ? `, ${terminated.reason}` : ''}`;
  if (disruption?.status === 'True')
    return failed(
      disruptionReason(disruption),
      `the transfer Pod ${name} was stopped (${how}): ${stoppedBy}`,
      true,
      undefined,
      code,
    );
  if (code === EXIT.ok)
    return failed(
      PodFailure.ResultMissing,
      `the transfer Pod ${name} exited 0 but its termination message is not a transfer result${terminated.message ? `: ${terminated.message.slice(0, 512)}` : ' (empty)'}`,
      true,
      undefined,
      code,
    );
  // Our own exit codes still say whether another attempt can help.
  const retryable = code !== EXIT.badRequest && code !== EXIT.permanent;
  return failed(
    PodFailure.Killed,
    `the transfer Pod ${name} ended with ${how} and left no result${terminated.message ? `: ${terminated.message.slice(0, 512)}` : ''}`,
    retryable,
    undefined,
    code,
  );
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  6: 'SIGABRT',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  15: 'SIGTERM',
};

/** The DisruptionTarget condition's reason (Kubernetes' words for who stopped the Pod), as ours. */
function disruptionReason(c: V1PodCondition): string {
  switch (c.reason) {
    case 'PreemptionByScheduler':
      return PodFailure.Preempted;
    case 'DeletionByTaintManager':
    case 'DeletionByPodGC':
      return PodFailure.NodeLost;
    case 'EvictionByEvictionAPI':
    case 'TerminationByKubelet':
      return PodFailure.Evicted;
    default:
      return PodFailure.Deleted;
  }
}

function disruptionWords(c: V1PodCondition): string {
  const who: Record<string, string> = {
    PreemptionByScheduler: 'preempted by the scheduler for a Pod of higher priority',
    DeletionByTaintManager: "its node is not ready or unreachable (the node's NoExecute taint)",
    DeletionByPodGC: 'its node is gone',
    EvictionByEvictionAPI: 'evicted (a node drain, or the Eviction API)',
    TerminationByKubelet: "stopped by its node's kubelet (resource pressure or node shutdown)",
  };
  const what = who[c.reason ?? ''] ?? c.reason ?? 'deleted';
  return c.message ? `${what}: ${c.message}` : what;
}

function failed(
  reason: string,
  message: string,
  retryable: boolean,
  result?: TransferResult,
  exitCode?: number,
): TransferPodOutcome {
  return {
    state: 'failed',
    reason,
    message,
    retryable,
    ...(result ? { result } : {}),
    ...(exitCode !== undefined ? { exitCode } : {}),
  };
}

function containerStatus(pod: V1Pod): V1ContainerStatus | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === TRANSFER_CONTAINER) ?? statuses[0];
}

function condition(pod: V1Pod, type: string): V1PodCondition | undefined {
  return pod.status?.conditions?.find((c) => c.type === type);
}

function memoryLimit(pod: V1Pod, container: string): string | undefined {
  const spec = pod.spec?.containers.find((c) => c.name === container) ?? pod.spec?.containers[0];
  const limit = spec?.resources?.limits?.memory;
  return limit === undefined ? undefined : String(limit);
}

function imageOf(pod: V1Pod): string {
  return (
    pod.spec?.containers.find((c) => c.name === TRANSFER_CONTAINER)?.image ??
    pod.spec?.containers[0]?.image ??
    '?'
  );
}

/** A timestamp as the client returns it (a Date) or as JSON has it (a string). */
function time(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

function words(text: string | undefined): string {
  return text?.trim() || 'no message';
}

function minutes(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`;
}
