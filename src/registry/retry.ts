// Retries inside one operation: only retryable RegistryErrors (5xx, 429, connection
// errors), a few times, with exponential backoff and jitter. A 4xx is never retried, so
// a wrong password cannot turn into a storm of requests.
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

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `operation` until it succeeds, fails for good, or the tries are used up. */
export async function withRetries<T>(
  policy: RetryPolicy,
  operation: (attempt: number) => Promise<T>,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (err) {
      if (!isRegistryError(err) || !err.retryable || attempt >= policy.attempts) throw err;
      const delay = backoffDelay(policy, attempt);
      onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}
