// One reconcile of one schedule: the object as observed, a draft of its status, the
// events raised. Written back once, at the end: only the top-level fields that changed.
import type { ServerImageScheduleStatus } from '../../api/serverimageschedule.js';
import { type ConditionInput, changedFields, setCondition } from '../../kube/index.js';
import type { ScheduleObject } from './types.js';

export interface PendingEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export class ScheduleScope {
  readonly status: ServerImageScheduleStatus;
  readonly events: PendingEvent[] = [];
  private readonly observed: ServerImageScheduleStatus;

  constructor(
    readonly object: ScheduleObject,
    readonly now: Date,
  ) {
    this.observed = structuredClone(object.status ?? {});
    this.status = structuredClone(this.observed);
  }

  setCondition(type: string, status: ConditionInput['status'], reason: string, message = ''): void {
    this.status.conditions = setCondition(
      this.status.conditions,
      { type, status, reason, message, observedGeneration: this.object.metadata.generation },
      this.now,
    ).conditions;
  }

  event(type: PendingEvent['type'], reason: string, message: string): void {
    this.events.push({ type, reason, message });
  }

  /** The top-level status fields that differ from what was observed; undefined when none. */
  statusChanges(): Record<string, unknown> | undefined {
    return changedFields(this.observed, this.status);
  }
}
