// What every retried step of a ServerImage does with a failure: Error at once when a
// retry cannot help; otherwise the attempt is counted in status.retry (so a restart
// continues the budget) with backoff, and Error once the retry deadline has passed.
import { describeClientError } from '../../kube/client-error.js';
import { formatDuration } from './durations.js';
import { recordFailure, retryDelay, type FailedAttempt } from './retry-budget.js';
import type { Scope } from './scope.js';
import { Reason } from '../../api/serverimage-conditions.js';

export interface Failure {
  reason: string;
  retryable: boolean;
  message: string;
}

/** Data path and registry errors carry a reason and whether a retry can help; the rest is retried. */
export function describeFailure(error: unknown): Failure {
  const e = error as { reason?: unknown; retryable?: unknown; message?: unknown };
  if (typeof e?.reason === 'string') {
    // An error with a reason but no verdict (an API call that failed) is worth another try.
    const retryable = typeof e.retryable === 'boolean' ? e.retryable : true;
    return { reason: e.reason, retryable, message: String(e.message) };
  }
  return {
    reason: Reason.TransferFailed,
    retryable: true,
    message: describeClientError(error),
  };
}

export interface RetryOptions {
  /** --registry-retry-timeout: how long from the first failure attempts go on. */
  deadlineMs: number;
  /** The registry host's shared backoff, asked only for a retryable failure (it counts one). */
  sharedDelayMs?: () => number;
  /** Put before the failure's message in conditions, e.g. "pushing the VM definition: ". */
  prefix?: string;
  /** The terminal reason past the deadline (default: the failure's own). */
  giveUpReason?: (failure: Failure) => string;
  /** Whether the give-up message counts the attempts. */
  countAttempts?: boolean;
  /** The warning logged for an attempt that will be retried, and its extra fields. */
  log?: { message: string; fields?: Record<string, unknown> };
}

/**
 * Returns the attempt to retry (the next one is due after its `delayMs`), or undefined when
 * the step failed for good and the phase is now Error.
 */
export function retryOrGiveUp(
  scope: Scope,
  step: string,
  failure: Failure,
  options: RetryOptions,
): FailedAttempt | undefined {
  const prefix = options.prefix ?? '';
  if (!failure.retryable) {
    scope.fail(step, failure.reason, `${prefix}${failure.message}`);
    return undefined;
  }
  const shared = options.sharedDelayMs?.() ?? 0;
  const attempt = recordFailure(
    scope,
    step,
    `${failure.reason}: ${failure.message}`,
    (n) => Math.max(shared, retryDelay(n)),
    options.deadlineMs,
  );
  if (attempt.failingForMs >= options.deadlineMs) {
    const attempts = options.countAttempts === false ? '' : ` (${attempt.attempts} attempts)`;
    scope.fail(
      step,
      options.giveUpReason?.(failure) ?? failure.reason,
      `${prefix}${failure.message}; gave up after ${formatDuration(attempt.failingForMs)}${attempts}`,
    );
    return undefined;
  }
  if (!options.log) return attempt;
  scope.log.warn(
    {
      ...options.log.fields,
      reason: failure.reason,
      error: failure.message,
      attempt: attempt.attempts,
      delayMs: attempt.delayMs,
      failingForMs: attempt.failingForMs,
    },
    options.log.message,
  );
  return attempt;
}
