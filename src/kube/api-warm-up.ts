// At start-up the API server may answer before it can serve: 429 "storage is
// (re)initializing" while its etcd watch cache fills, 503 while aggregated APIs come up.
// The operator waits that out with one short log line instead of failing (or logging the
// client's whole response), and still stops at once on an error waiting cannot fix.
import { ApisApi, type KubeConfig } from '@kubernetes/client-node';
import { describeClientError, isTransientApiError } from './client-error.js';
import { type Clock, sleep, systemClock } from './clock.js';
import type { Logger } from './logger.js';

export interface WarmUpOptions {
  logger: Logger;
  /** How long to wait in all (default 5 minutes, then the last error is thrown). */
  timeoutMs?: number;
  clock?: Clock;
  signal?: AbortSignal;
}

/** Resolves once the API server answers discovery (/apis); retries 429 and 503 with backoff. */
export async function waitForApiServer(kubeConfig: KubeConfig, options: WarmUpOptions): Promise<void> {
  const clock = options.clock ?? systemClock;
  const deadline = clock.now() + (options.timeoutMs ?? 300_000);
  const api = kubeConfig.makeApiClient(ApisApi);
  let delay = 250;
  let told = false;
  for (;;) {
    try {
      await api.getAPIVersions();
      if (told) options.logger.info({}, 'the API server is ready');
      return;
    } catch (err) {
      if (!isTransientApiError(err) || clock.now() >= deadline || options.signal?.aborted) throw err;
      if (!told)
        options.logger.info({ reason: describeClientError(err) }, 'waiting for the API server to be ready');
      told = true;
    }
    await sleep(clock, delay, options.signal);
    delay = Math.min(delay * 2, 5000);
  }
}
