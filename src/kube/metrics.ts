// What the control loop reports, named after controller-runtime's Prometheus metrics
// so prom-client can be wired in main.ts without touching the loop:
//   workqueue_depth, workqueue_adds_total, workqueue_retries_total,
//   workqueue_queue_duration_seconds, workqueue_work_duration_seconds,
//   controller_runtime_reconcile_total{result}, controller_runtime_reconcile_errors_total,
//   controller_runtime_terminal_reconcile_errors_total, controller_runtime_reconcile_time_seconds,
//   controller_runtime_active_workers.

export interface WorkQueueMetrics {
  /** workqueue_depth: keys waiting to be handed out. */
  depth(n: number): void;
  /** workqueue_adds_total. */
  added(): void;
  /** workqueue_retries_total: rate-limited re-adds. */
  retried(): void;
  /** workqueue_queue_duration_seconds: from add to hand-out. */
  queueDuration(seconds: number): void;
  /** workqueue_work_duration_seconds: from hand-out to done. */
  workDuration(seconds: number): void;
}

export type ReconcileResultLabel = 'success' | 'error' | 'requeue' | 'requeue_after';

export interface ReconcileMetrics {
  /** controller_runtime_reconcile_total{result} and controller_runtime_reconcile_time_seconds. */
  reconciled(result: ReconcileResultLabel, seconds: number): void;
  /** controller_runtime_reconcile_errors_total (retried errors). */
  errored(): void;
  /** controller_runtime_active_workers. */
  activeWorkers(n: number): void;
}

export const noopWorkQueueMetrics: WorkQueueMetrics = {
  depth: () => {},
  added: () => {},
  retried: () => {},
  queueDuration: () => {},
  workDuration: () => {},
};

export const noopReconcileMetrics: ReconcileMetrics = {
  reconciled: () => {},
  errored: () => {},
  activeWorkers: () => {},
};
