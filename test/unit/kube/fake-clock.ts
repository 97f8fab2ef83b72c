// A clock that only moves when the test says so, for the queue and controller tests.
import type { Clock, Timer } from '../../../src/kube/clock.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private current = 1_000_000;
  private seq = 0;
  private pending: Pending[] = [];

  now(): number {
    return this.current;
  }

  setTimer(fn: () => void, ms: number): Timer {
    const entry = { at: this.current + Math.max(0, ms), seq: this.seq++, fn };
    this.pending.push(entry);
    return { cancel: () => (this.pending = this.pending.filter((p) => p !== entry)) };
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const due = this.pending.filter((p) => p.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.pending = this.pending.filter((p) => p !== due);
      this.current = due.at;
      due.fn();
    }
    this.current = target;
  }

  /** Delays of the timers not fired yet, from now. */
  pendingDelays(): number[] {
    return this.pending.map((p) => p.at - this.current).sort((a, b) => a - b);
  }
}

/** Lets promise callbacks run (several microtask turns plus one macrotask). */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
