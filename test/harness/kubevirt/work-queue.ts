// A keyed work queue in the manner of client-go's: one reconcile per key at a time,
// a key added while it runs runs once more afterwards, failures retry with per-key
// exponential backoff, and a handler may ask to run again after a delay.
export type Reconcile = (key: string) => Promise<number | void>;

export interface Logger {
  (message: string, err?: unknown): void;
}

export class WorkQueue {
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private stopped = false;
  private readonly idle = new Set<() => void>();
  /** Reconciles run per key (tests count them to see what a change requeues). */
  readonly runs = new Map<string, number>();

  constructor(
    private readonly name: string,
    private readonly reconcile: Reconcile,
    private readonly log: Logger,
  ) {}

  add(key: string, delayMs = 0): void {
    if (this.stopped) return;
    if (delayMs > 0) {
      const existing = this.timers.get(key);
      if (existing) clearTimeout(existing);
      this.timers.set(
        key,
        setTimeout(() => {
          this.timers.delete(key);
          this.add(key);
        }, delayMs),
      );
      return;
    }
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.running.add(key);
    void this.run(key);
  }

  private async run(key: string): Promise<void> {
    let again: number | void;
    this.runs.set(key, (this.runs.get(key) ?? 0) + 1);
    try {
      again = await this.reconcile(key);
      this.failures.delete(key);
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      again = Math.min(50 * 2 ** n, 5000);
      if (!this.stopped) this.log(`${this.name} ${key}: reconcile failed (retry ${n} in ${again} ms)`, err);
    }
    this.running.delete(key);
    if (this.dirty.delete(key)) this.add(key);
    else if (again && again > 0) this.add(key, again);
    if (this.running.size === 0) for (const resolve of this.idle) resolve();
  }

  /** Stops taking work and waits for reconciles in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.dirty.clear();
    if (this.running.size > 0) {
      await new Promise<void>((resolve) => this.idle.add(resolve));
    }
  }
}
