// Prometheus metrics: controller-runtime's names for the reconciles and the work queue
// (so existing dashboards and alerts work), plus ours: images by phase and reason,
// bytes pushed, and how long a push takes.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReconcileMetrics, WorkQueueMetrics } from './kube/index.js';

export interface ImageCount {
  phase: string;
  reason: string;
}

export class OperatorMetrics {
  readonly registry = new Registry();
  private readonly pushedBytes: Counter;
  private readonly pushSeconds: Histogram;

  constructor(private readonly controller = 'serverimage') {
    collectDefaultMetrics({ register: this.registry });
    this.pushedBytes = new Counter({
      name: 'serverimage_pushed_bytes_total',
      help: 'Disk bytes read from exports and pushed to registries',
      registers: [this.registry],
    });
    this.pushSeconds = new Histogram({
      name: 'serverimage_push_duration_seconds',
      help: 'Time to push one volume: export stream, compression, upload, manifest',
      buckets: [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400],
      registers: [this.registry],
    });
  }

  /** serverimage_images{phase,reason}, counted from the cache at each scrape. */
  countImages(count: () => ImageCount[]): void {
    new Gauge({
      name: 'serverimage_images',
      help: 'ServerImages by phase and Ready reason',
      labelNames: ['phase', 'reason'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const image of count()) this.inc({ phase: image.phase, reason: image.reason });
      },
    });
  }

  /**
   * serverimage_operator_ready: 1 while /readyz answers 200, read at each scrape. The
   * metrics port answers when the probe port's answer is "not ready", so an alert sees a
   * replica stuck unsynced (RBAC, an unreachable API) and not only one that is gone.
   */
  countReadiness(ready: () => boolean): void {
    new Gauge({
      name: 'serverimage_operator_ready',
      help: 'Whether this replica is ready: informers synced, or standing by for leadership (1 or 0)',
      registers: [this.registry],
      collect() {
        this.set(ready() ? 1 : 0);
      },
    });
  }

  /**
   * leader_election_master_status{name}: client-go's name, 1 while this replica holds the
   * Lease `name`, so the dashboards and alerts written for controller-runtime operators
   * read it too. One series per replica.
   */
  leadership(lease: string): (leading: boolean) => void {
    const gauge = new Gauge({
      name: 'leader_election_master_status',
      help: 'Whether this replica is the leader of the Lease (1 or 0)',
      labelNames: ['name'],
      registers: [this.registry],
    });
    gauge.set({ name: lease }, 0);
    return (leading) => gauge.set({ name: lease }, leading ? 1 : 0);
  }

  /** serverimage_verifications_total{result}: boot verifications ended (spec.verify.boot). */
  verified(result: 'Verified' | 'VerificationFailed'): void {
    this.verifications.inc({ result });
  }

  private readonly verifications = (() => {
    const counter = new Counter({
      name: 'serverimage_verifications_total',
      help: 'Boot verifications of images ended, by result (Verified, VerificationFailed)',
      labelNames: ['result'],
      registers: [this.registry],
    });
    // At 0 from the start, so increase() sees the first failure.
    for (const result of ['Verified', 'VerificationFailed']) counter.inc({ result }, 0);
    return counter;
  })();

  /**
   * serverimage_last_verified_timestamp_seconds{namespace,vm}: the completion time of the newest
   * Verified image per VM, read from the cache at each scrape (so a restart loses nothing).
   */
  countLastVerified(list: () => Array<{ namespace: string; vm: string; time: Date }>): void {
    new Gauge({
      name: 'serverimage_last_verified_timestamp_seconds',
      help: 'When the newest image of a VM that booted in its verification was verified (Unix seconds)',
      labelNames: ['namespace', 'vm'],
      registers: [this.registry],
      collect() {
        this.reset();
        const newest = new Map<string, { namespace: string; vm: string; seconds: number }>();
        for (const { namespace, vm, time } of list()) {
          const key = `${namespace}/${vm}`;
          const seconds = time.getTime() / 1000;
          if ((newest.get(key)?.seconds ?? -Infinity) < seconds) newest.set(key, { namespace, vm, seconds });
        }
        for (const { namespace, vm, seconds } of newest.values()) this.set({ namespace, vm }, seconds);
      },
    });
  }

  pushed(bytes: number, seconds: number): void {
    this.pushedBytes.inc(bytes);
    this.pushSeconds.observe(seconds);
  }

  /** workqueue_* of one controller's queue (the series share one metric, told apart by label). */
  workQueue(controller = this.controller): WorkQueueMetrics {
    const m = (this.queueMetrics ??= this.makeQueueMetrics());
    const labels = { name: controller, controller };
    // At 0 from the start, so rate() and the dashboard see a series before the first retry.
    m.adds.inc(labels, 0);
    m.retries.inc(labels, 0);
    return {
      depth: (n) => m.depth.set(labels, n),
      added: () => m.adds.inc(labels),
      retried: () => m.retries.inc(labels),
      queueDuration: (s) => m.queued.observe(labels, s),
      workDuration: (s) => m.work.observe(labels, s),
    };
  }

  /** controller_runtime_* of one controller. */
  reconcile(controller = this.controller): ReconcileMetrics {
    const m = (this.reconcileMetrics ??= this.makeReconcileMetrics());
    const labels = { controller };
    for (const result of ['success', 'error', 'requeue', 'requeue_after'])
      m.total.inc({ ...labels, result }, 0);
    m.errors.inc(labels, 0);
    // Exposed at 0 for controller-runtime dashboards: no reconcile error is terminal here (a
    // ServerImage that cannot succeed says so in its Error phase), every one is retried.
    m.terminal.inc(labels, 0);
    return {
      reconciled: (result, seconds) => {
        m.total.inc({ ...labels, result });
        m.time.observe(labels, seconds);
      },
      errored: () => m.errors.inc(labels),
      activeWorkers: (n) => m.workers.set(labels, n),
    };
  }

  private queueMetrics?: ReturnType<OperatorMetrics['makeQueueMetrics']>;
  private reconcileMetrics?: ReturnType<OperatorMetrics['makeReconcileMetrics']>;

  private makeQueueMetrics() {
    const r = [this.registry];
    const labelNames = ['name', 'controller'];
    const buckets = [0.001, 0.01, 0.1, 1, 10, 100, 1000];
    return {
      depth: new Gauge({
        name: 'workqueue_depth',
        help: 'Current depth of workqueue',
        labelNames,
        registers: r,
      }),
      adds: new Counter({
        name: 'workqueue_adds_total',
        help: 'Total number of adds handled by workqueue',
        labelNames,
        registers: r,
      }),
      retries: new Counter({
        name: 'workqueue_retries_total',
        help: 'Total number of retries handled by workqueue',
        labelNames,
        registers: r,
      }),
      queued: new Histogram({
        name: 'workqueue_queue_duration_seconds',
        help: 'How long in seconds an item stays in workqueue before being requested',
        labelNames,
        buckets,
        registers: r,
      }),
      work: new Histogram({
        name: 'workqueue_work_duration_seconds',
        help: 'How long in seconds processing an item from workqueue takes',
        labelNames,
        buckets,
        registers: r,
      }),
    };
  }

  private makeReconcileMetrics() {
    const r = [this.registry];
    const labelNames = ['controller'];
    return {
      total: new Counter({
        name: 'controller_runtime_reconcile_total',
        help: 'Total number of reconciliations per controller',
        labelNames: ['controller', 'result'],
        registers: r,
      }),
      errors: new Counter({
        name: 'controller_runtime_reconcile_errors_total',
        help: 'Total number of reconciliation errors per controller',
        labelNames,
        registers: r,
      }),
      terminal: new Counter({
        name: 'controller_runtime_terminal_reconcile_errors_total',
        help: 'Total number of terminal reconciliation errors per controller',
        labelNames,
        registers: r,
      }),
      time: new Histogram({
        name: 'controller_runtime_reconcile_time_seconds',
        help: 'Length of time per reconciliation per controller',
        labelNames,
        registers: r,
      }),
      workers: new Gauge({
        name: 'controller_runtime_active_workers',
        help: 'Number of currently used workers per controller',
        labelNames,
        registers: r,
      }),
    };
  }
}
