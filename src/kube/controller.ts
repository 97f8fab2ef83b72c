// Runs N workers over a WorkQueue, like controller-runtime's controller:
// a reconcile that throws is retried with the key's backoff (nothing is terminal here: a
// ServerImage that cannot succeed says so in its Error phase), { requeueAfter } waits
// that long (a timed wait, not an error), success forgets the key's backoff. stop() lets
// reconciles in flight finish.
import { describeClientError } from './client-error.js';
import { type Clock, systemClock } from './clock.js';
import { type Logger, silentLogger } from './logger.js';
import { type ReconcileMetrics, type ReconcileResultLabel, noopReconcileMetrics } from './metrics.js';
import { WorkQueue } from './work-queue.js';

export interface ReconcileResult {
  /** Reconcile this key again after this many milliseconds (and reset its backoff). */
  requeueAfter?: number;
  /** Reconcile again with the key's backoff, without counting an error. */
  requeue?: boolean;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

export interface ControllerOptions {
  /** Name for logs and the `controller` metric label. */
  name: string;
  reconcile: Reconciler;
  /** Concurrent reconciles (of different keys); default 1. */
  workers?: number;
  /** Default: a new WorkQueue on `clock`. */
  queue?: WorkQueue;
  clock?: Clock;
  metrics?: ReconcileMetrics;
  logger?: Logger;
  /** Field holding the key in log lines (default "key"), e.g. "serverimage". */
  keyField?: string;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly reconcile: Reconciler;
  private readonly workers: number;
  private readonly clock: Clock;
  private readonly metrics: ReconcileMetrics;
  private readonly logger: Logger;
  private readonly keyField: string;
  private running: Promise<void>[] = [];
  private active = 0;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.reconcile = options.reconcile;
    this.workers = Math.max(1, options.workers ?? 1);
    this.clock = options.clock ?? systemClock;
    this.queue = options.queue ?? new WorkQueue({ clock: this.clock });
    this.metrics = options.metrics ?? noopReconcileMetrics;
    this.logger = options.logger ?? silentLogger;
    this.keyField = options.keyField ?? 'key';
  }

  /** Queues a key ("namespace/name"). Safe to call from informer handlers. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Starts the workers; call once. */
  start(): void {
    if (this.running.length > 0) throw new Error(`controller ${this.name} already started`);
    this.running = Array.from({ length: this.workers }, () => this.worker());
  }

  /** Stops taking keys and resolves when the reconciles in flight have finished. */
  async stop(): Promise<void> {
    await this.queue.drain();
    await Promise.all(this.running);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      await this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    const started = this.clock.now();
    this.metrics.activeWorkers(++this.active);
    let label: ReconcileResultLabel = 'success';
    try {
      const result = await this.reconcile(key);
      label = this.handleResult(key, result ?? {});
    } catch (err) {
      label = 'error';
      this.handleError(key, err);
    } finally {
      this.metrics.activeWorkers(--this.active);
      this.metrics.reconciled(label, (this.clock.now() - started) / 1000);
      this.queue.done(key);
    }
  }

  private handleResult(key: string, result: ReconcileResult): ReconcileResultLabel {
    if (result.requeueAfter !== undefined && result.requeueAfter > 0) {
      this.queue.forget(key);
      this.queue.addAfter(key, result.requeueAfter);
      return 'requeue_after';
    }
    if (result.requeue) {
      this.queue.addRateLimited(key);
      return 'requeue';
    }
    this.queue.forget(key);
    return 'success';
  }

  private handleError(key: string, err: unknown): void {
    this.metrics.errored();
    this.queue.addRateLimited(key);
    this.logger.error(
      {
        controller: this.name,
        [this.keyField]: key,
        error: describeClientError(err),
        retries: this.queue.numRequeues(key),
      },
      'reconcile failed; retrying with backoff',
    );
  }
}
