// One reconcile of one ServerImage: the object as observed, a draft of its status that
// the phase functions edit, and the events they raise. The reconciler writes the draft
// back once, at the end, and only the top-level status fields that changed, so it never
// overwrites what a running transfer wrote meanwhile (images, progress).
import { describeClientError } from '../../kube/client-error.js';
import type { ServerImageStatus, Phase } from '../../api/serverimage.js';
import {
  type ConditionInput,
  changedFields,
  type Logger,
  silentLogger,
  metaTime,
  withoutRuntimeHints,
  setCondition,
  findCondition,
  removeCondition,
} from '../../kube/index.js';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';
import type { ServerImageObject } from './types.js';

/** The conditions of the steps before Active, in order. */
const STEP_CONDITIONS = [
  ConditionType.ServerReady,
  ConditionType.RegistryReady,
  ConditionType.Snapshotted,
  ConditionType.Exported,
  ConditionType.Pushed,
];

/** A condition reason (CamelCase) and a message for an error a phase threw. */
export function describeReconcileError(err: unknown): { reason: string; message: string } {
  const e = err as { reason?: unknown; message?: unknown; name?: unknown };
  if (typeof e?.reason === 'string' && /^[A-Za-z][A-Za-z0-9]*$/.test(e.reason)) {
    return { reason: e.reason, message: String(e.message) };
  }
  const name = err instanceof Error ? err.name : 'Error';
  return { reason: Reason.ReconcileError, message: `${name}: ${describeClientError(err)}`.slice(0, 32768) };
}

export interface PendingEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export class Scope {
  readonly status: ServerImageStatus;
  readonly events: PendingEvent[] = [];
  private readonly observed: ServerImageStatus;

  constructor(
    readonly object: ServerImageObject,
    readonly now: Date,
    /** Logs with the ServerImage's namespace/name on every line. */
    readonly log: Logger = silentLogger,
  ) {
    this.observed = structuredClone(object.status ?? {});
    this.status = structuredClone(this.observed);
  }

  get key(): string {
    return `${this.object.metadata.namespace}/${this.object.metadata.name}`;
  }

  get phase(): Phase | undefined {
    return this.status.phase;
  }

  /** The phase this reconcile started from. */
  get observedPhase(): Phase | undefined {
    return this.observed.phase;
  }

  condition(type: string) {
    return findCondition(this.status.conditions, type);
  }

  setCondition(type: string, status: ConditionInput['status'], reason: string, message = ''): void {
    this.status.conditions = setCondition(
      this.status.conditions,
      {
        type,
        status,
        reason,
        message: withoutRuntimeHints(message),
        observedGeneration: this.object.metadata.generation,
      },
      this.now,
    ).conditions;
  }

  /** How long a condition has had its current status, in ms (0 when it is not set). */
  conditionAge(type: string): number {
    const since = this.condition(type)?.lastTransitionTime;
    return since ? this.now.getTime() - new Date(since).getTime() : 0;
  }

  /**
   * Marks a step as waiting, not failing (the reconcile returns; it does not block): Ready=False with the reason, and an event when the reason is new.
   * `Unknown` for a step not begun yet (waiting for its turn), so that the step's own
   * deadline, counted from its condition turning False, starts only when the step does.
   */
  markWaiting(
    conditionType: string,
    reason: string,
    message: string,
    status: 'False' | 'Unknown' = 'False',
  ): void {
    const previous = this.condition(conditionType);
    this.setCondition(conditionType, status, reason, message);
    this.setCondition(ConditionType.Ready, 'False', reason, message);
    if (previous?.reason !== reason) this.event('Normal', reason, message);
  }

  /** Moves to a phase; Ready follows it (kstatus), times and an event come with it. */
  setPhase(phase: Phase, reason: string, message: string): void {
    const changed = this.status.phase !== phase;
    this.status.phase = phase;
    this.status.observedGeneration = this.object.metadata.generation;
    this.status.startTime ??= metaTime(this.now);
    if (phase === 'Active' || phase === 'Error') this.status.completionTime ??= metaTime(this.now);
    this.setCondition(ConditionType.Ready, phase === 'Active' ? 'True' : 'False', reason, message);
    if (changed) this.event(phase === 'Error' ? 'Warning' : 'Normal', reason, message);
  }

  /**
   * Terminal failure (Nova's error status): the reason names what went wrong. Every other
   * step that had not succeeded is closed with the same reason, so no condition keeps
   * saying "Pushing" on an image that is no longer being pushed; the retry record goes.
   */
  fail(stepCondition: string, reason: string, message: string): void {
    this.setCondition(stepCondition, 'False', reason, message);
    for (const type of STEP_CONDITIONS) {
      const open = this.condition(type);
      if (type !== stepCondition && open && open.status !== 'True') {
        this.setCondition(type, 'False', reason, `Stopped: ${message}`);
      }
    }
    delete this.status.retry;
    this.setPhase('Error', reason, message);
  }

  /**
   * A phase threw (an API call failed, say): the phase stays, Ready says what failed, a
   * Warning event tells it once per new message, and the reconcile is retried with backoff.
   */
  reconcileFailed(err: unknown): void {
    const { reason, message } = describeReconcileError(err);
    // In Error, Ready keeps the terminal reason; what failed is the purge.
    const type = this.phase === 'Error' ? ConditionType.Purged : ConditionType.Ready;
    const previous = this.condition(type);
    this.setCondition(type, 'False', reason, message);
    if (previous?.reason !== reason || previous.message !== message) this.event('Warning', reason, message);
  }

  /**
   * kstatus' abnormal-true conditions, from the phase and Ready, so Flux, Argo CD and
   * `kubectl wait` read progress without knowing our kind: Reconciling while Queued or
   * Saving, Stalled on Error, neither when Active.
   */
  summarize(): void {
    const ready = this.condition(ConditionType.Ready);
    if (!ready) return;
    const working = this.phase === 'Queued' || this.phase === 'Saving';
    for (const [type, applies] of [
      [ConditionType.Reconciling, working],
      [ConditionType.Stalled, this.phase === 'Error'],
    ] as const) {
      if (applies) this.setCondition(type, 'True', ready.reason, ready.message);
      else this.status.conditions = removeCondition(this.status.conditions, type).conditions;
    }
  }

  event(type: PendingEvent['type'], reason: string, message: string): void {
    this.events.push({ type, reason, message: withoutRuntimeHints(message) });
  }

  /** The top-level status fields that differ from what was observed; undefined when none. */
  statusChanges(): Record<string, unknown> | undefined {
    return changedFields(this.observed, this.status);
  }
}
