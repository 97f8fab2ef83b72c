// Deadlines and retry budgets live in status.retry, not in memory: a restarted or newly
// elected operator reads when the wait began and how many attempts failed, and continues
// the same budget (kept in memory, every restart would start a fresh one, and an operator
// restarted often enough would wait forever). One record at a time: the step
// being waited for or retried; it is dropped when that step succeeds.
import type { ServerImageStatus } from '../../api/serverimage.js';
// Not the kube/ index: the transfer Pod uses this rule too and never loads the Kubernetes client.
import { metaTime } from '../../kube/conditions.js';
import type { Scope } from './scope.js';

export type RetryRecord = NonNullable<ServerImageStatus['retry']>;

const FIRST_RETRY_MS = 2000;
const MAX_RETRY_MS = 5 * 60_000;

/** Exponential backoff after `attempts` failures: 2 s, 4 s, 8 s ... at most 5 min. */
export const retryDelay = (attempts: number): number =>
  Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1));

/** The record of `step` if one is running, else undefined. */
export function currentRetry(scope: Scope, step: string): RetryRecord | undefined {
  const retry = scope.status.retry;
  return retry?.step === step ? retry : undefined;
}

/** How long `step` has been waited for (0 when it is not). */
export function waitingFor(scope: Scope, step: string): number {
  const retry = currentRetry(scope, step);
  return retry ? scope.now.getTime() - new Date(retry.since).getTime() : 0;
}

/** Starts (or continues) waiting for `step` without counting a failure; returns how long it has waited. */
export function startWaiting(scope: Scope, step: string, why: string): number {
  const retry = currentRetry(scope, step);
  scope.status.retry = {
    step,
    since: retry?.since ?? metaTime(scope.now),
    attempts: retry?.attempts ?? 0,
    lastError: why,
  };
  return waitingFor(scope, step);
}

export interface FailedAttempt {
  attempts: number;
  /** Since the first failure of this run. */
  failingForMs: number;
  /** Until the next attempt. */
  delayMs: number;
}

/**
 * Counts a failed attempt of `step` and schedules the next one with backoff, but never
 * later than `deadlineMs` after the first failure (plus a second): the last attempt is
 * made at the deadline, not a backoff step past it.
 */
export function recordFailure(
  scope: Scope,
  step: string,
  error: string,
  delay: (attempts: number) => number = retryDelay,
  deadlineMs = Infinity,
): FailedAttempt {
  const retry = currentRetry(scope, step);
  const attempts = (retry?.attempts ?? 0) + 1;
  const since = retry ? new Date(retry.since).getTime() : scope.now.getTime();
  const left = since + deadlineMs - scope.now.getTime();
  const delayMs = Math.max(1000, Math.min(delay(attempts), left));
  scope.status.retry = {
    step,
    since: retry?.since ?? metaTime(scope.now),
    attempts,
    lastError: error.slice(0, 4096),
    nextAttemptAt: metaTime(new Date(scope.now.getTime() + delayMs)),
  };
  return { attempts, failingForMs: waitingFor(scope, step), delayMs };
}

/** Ms until the next attempt of `step` is due (0 when it is due or none is scheduled). */
export function untilNextAttempt(scope: Scope, step: string): number {
  const next = currentRetry(scope, step)?.nextAttemptAt;
  return next ? Math.max(0, new Date(next).getTime() - scope.now.getTime()) : 0;
}

/** `step` succeeded: its record goes. */
export function clearRetry(scope: Scope, step: string): void {
  if (currentRetry(scope, step)) delete scope.status.retry;
}
