// Retries inside one operation: only retryable RegistryErrors (5xx, 429, connection
// errors), a few times, with exponential backoff and jitter. A 4xx is never retried, so
// a wrong password cannot turn into a storm of requests.
import pRetry from 'p-retry';
import { isRegistryError } from './errors.js';

export interface RetryPolicy {
  /** Tries in total, the first included (default 5). */
  attempts: number;
  /** Delay before the second try; doubles each time (default 250 ms). */
  baseDelayMs: number;
  /** Upper bound of one delay (default 5 s). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 5000 };

export function backoffDelay(policy: RetryPolicy, failedTries: number): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedTries - 1));
  // Full jitter in the upper half keeps parallel clients apart without ever waiting ~0.
  return Math.round(exponential / 2 + (Math.random() * exponential) / 2);
}

/**
 * Runs `operation` until it succeeds, fails for good, or the tries are used up: p-retry,
 * with the policy's exponential backoff and jitter in the upper half of each delay. The
 * chunk upload's resume loop (blob-upload.ts) is not this: it goes on from where the
 * registry says it got to, so it keeps its own loop with `backoffDelay`.
 */
export function withRetries<T>(
  policy: RetryPolicy,
  operation: (attempt: number) => Promise<T>,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  return pRetry(operation, {
    retries: policy.attempts - 1,
    factor: 2,
    // randomize scales a delay by 1 to 2: [base/2, base] doubling, as backoffDelay.
    minTimeout: policy.baseDelayMs / 2,
    maxTimeout: policy.maxDelayMs,
    randomize: true,
    shouldRetry: ({ error, attemptNumber, retryDelay }) => {
      if (!isRegistryError(error) || !error.retryable) return false;
      onRetry?.(error, attemptNumber, retryDelay);
      return true;
    },
  });
}
