// A work queue with client-go's guarantees, for keys "namespace/name":
// - a key waits in the queue at most once (adds coalesce: "dirty" set);
// - a key is handed to one worker at a time ("processing" set); a key added while it is
//   being processed is queued again when the worker calls done(), so it runs once more
//   with the newest state instead of concurrently;
// - addAfter() delays an add, and when a key is already waiting the earliest time wins;
// - addRateLimited() delays by the per-key exponential backoff; forget() resets it;
// - shutDown() stops handing out keys at once; drain() resolves when the keys already
//   handed out are done, so a process can exit without half-done work.
import { type Clock, type Timer, systemClock } from './clock.js';
import { type WorkQueueMetrics, noopWorkQueueMetrics } from './metrics.js';
import { ItemExponentialRateLimiter, type RateLimiter } from './rate-limiter.js';

export interface WorkQueueOptions {
  clock?: Clock;
  rateLimiter?: RateLimiter;
  metrics?: WorkQueueMetrics;
}

interface Waiting {
  readyAt: number;
  timer: Timer;
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly rateLimiter: RateLimiter;
  private readonly metrics: WorkQueueMetrics;
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Map<string, number>();
  private readonly addedAt = new Map<string, number>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private drainedWaiters: (() => void)[] = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.rateLimiter = options.rateLimiter ?? new ItemExponentialRateLimiter();
    this.metrics = options.metrics ?? noopWorkQueueMetrics;
  }

  /** Marks `key` as needing work. No-op when it already waits, or after shutDown(). */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics.added();
    this.dirty.add(key);
    // Picked up again by done(): never hand one key to two workers.
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  /** Adds `key` after `delayMs`; if it already waits for a later time, the earlier time wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const readyAt = this.clock.now() + delayMs;
    const current = this.waiting.get(key);
    if (current && current.readyAt <= readyAt) return;
    current?.timer.cancel();
    const timer = this.clock.setTimer(() => {
      this.waiting.delete(key);
      this.add(key);
    }, delayMs);
    this.waiting.set(key, { readyAt, timer });
  }

  /** Adds `key` after its backoff (5 ms, doubling per failure up to 1000 s). */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.metrics.retried();
    this.addAfter(key, this.rateLimiter.when(key));
  }

  /** Resets the backoff of `key` (call on success). */
  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.rateLimiter.numRequeues(key);
  }

  /**
   * The next key to work on; waits while the queue is empty. Resolves `undefined` once
   * the queue is shut down: the worker should then return.
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.handOut(key));
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Ends work on `key`; if it was added meanwhile it goes back in the queue. */
  done(key: string): void {
    const startedAt = this.processing.get(key);
    if (startedAt === undefined) return;
    this.processing.delete(key);
    this.metrics.workDuration((this.clock.now() - startedAt) / 1000);
    if (this.dirty.has(key) && !this.shuttingDown) this.enqueue(key);
    if (this.shuttingDown && this.processing.size === 0) this.resolveDrained();
  }

  /** Keys waiting to be handed out (not the delayed ones, not the ones in work). */
  len(): number {
    return this.queue.length;
  }

  /** Keys handed out and not done yet. */
  inFlight(): number {
    return this.processing.size;
  }

  /** Keys waiting for a delayed add. */
  delayed(): number {
    return this.waiting.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Stops handing out keys; queued and delayed keys are dropped (the next process relists). */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) timer.cancel();
    this.waiting.clear();
    this.queue.length = 0;
    this.dirty.clear();
    this.addedAt.clear();
    this.metrics.depth(0);
    for (const getter of this.getters.splice(0)) getter(undefined);
    if (this.processing.size === 0) this.resolveDrained();
  }

  /** Shuts down and resolves when every key handed out has been marked done. */
  drain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainedWaiters.push(resolve));
  }

  private enqueue(key: string): void {
    const getter = this.getters.shift();
    if (!this.addedAt.has(key)) this.addedAt.set(key, this.clock.now());
    if (getter) {
      getter(this.handOut(key));
      return;
    }
    this.queue.push(key);
    this.metrics.depth(this.queue.length);
  }

  private handOut(key: string): string {
    const now = this.clock.now();
    this.metrics.depth(this.queue.length);
    this.metrics.queueDuration((now - (this.addedAt.get(key) ?? now)) / 1000);
    this.addedAt.delete(key);
    this.dirty.delete(key);
    this.processing.set(key, now);
    return key;
  }

  private resolveDrained(): void {
    const waiters = this.drainedWaiters;
    this.drainedWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
