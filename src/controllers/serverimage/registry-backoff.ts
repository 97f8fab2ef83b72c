// One backoff per registry host, shared by every ServerImage that pushes there. While a
// registry is failing, the images waiting for it back off together: without this, each
// failure handed the transfer slot to the next waiting image, which failed in turn, and a
// dead registry saw several requests a second. One image at a time probes a
// host whose backoff has run out; the others wait for its answer.
import { retryDelay } from './retry-budget.js';

interface HostState {
  failures: number;
  /** No new attempt against the host before this (epoch ms). */
  until: number;
  /** The caller (a ServerImage key) whose attempt is in flight, and since when (epoch ms). */
  probing?: { key: string; since: number };
}

/** How long a probe may hold the host before others may try (a hung request). */
const PROBE_HOLD_MS = 60_000;

export class RegistryBackoff {
  private readonly hosts = new Map<string, HostState>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Ms to wait before trying `host` (0: go ahead). A host that has been failing lets one
   * caller through when its backoff ends; that caller must report the outcome.
   */
  waitFor(host: string, key: string): number {
    const state = this.hosts.get(host);
    if (!state) return 0;
    const now = this.now();
    if (now < state.until) return state.until - now;
    const probe = state.probing;
    if (probe && probe.key !== key && now - probe.since < PROBE_HOLD_MS) return 1000;
    state.probing = { key, since: now };
    return 0;
  }

  /** A request to `host` failed as unavailable: the host's backoff grows. Returns its delay. */
  failed(host: string): number {
    const state = this.hosts.get(host) ?? { failures: 0, until: 0 };
    state.failures++;
    state.probing = undefined;
    const delay = retryDelay(state.failures);
    state.until = Math.max(state.until, this.now() + delay);
    this.hosts.set(host, state);
    return delay;
  }

  /** The host answered: everyone may go. */
  succeeded(host: string): void {
    this.hosts.delete(host);
  }

  /** Consecutive failures recorded for `host` (for messages and tests). */
  failures(host: string): number {
    return this.hosts.get(host)?.failures ?? 0;
  }
}
