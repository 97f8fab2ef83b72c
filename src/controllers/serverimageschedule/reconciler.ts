// The ServerImageSchedule reconciler: is a run due (timing.ts)? then stamp it (run.ts);
// prune per VM (rotation.ts via prune.ts); then status, written once, and the events.
// It wakes at the next due time (requeueAfter) and whenever one of its backups changes.
import type { EventRecorder, ReconcileResult } from '../../kube/index.js';
import { metaTime, patchStatus } from '../../kube/index.js';
import { formatDuration } from '../serverimage/durations.js';
import { type Backup, backupsByServer } from './backups.js';
import { CronSchedule } from './cron.js';
import type { ScheduleDeps } from './deps.js';
import { pruneAll } from './prune.js';
import { ConditionType, Reason } from '../../api/serverimageschedule-conditions.js';
import { runAt } from './run.js';
import { ScheduleScope } from './scope.js';
import { selectedServers } from './selection.js';
import { lastActive, overdueServers, serverStatus } from './server-status.js';
import { decideRun } from './timing.js';
import { type ScheduleObject } from './types.js';
import { SERVERIMAGESCHEDULE_RESOURCE } from '../../api/kinds.js';
import { FIELD_MANAGER } from '../../api/metadata-keys.js';

// A timer may fire a hair early; a due time is never run before it is due.
const WAKE_SLACK_MS = 20;

export class ScheduleReconciler {
  /** Due times this process already ran, by schedule UID: the cache may not show our status write yet. */
  private readonly ran = new Map<string, number>();
  /**
   * The cursor (nextScheduleTime) this process last wrote, by schedule UID. The cache may not
   * show that write yet; a reconcile at the due time that read no cursor would take the next
   * due time after now and skip this one.
   */
  private readonly cursors = new Map<string, string | undefined>();
  /** Backups this process deleted (UID -> namespace): the cache may still list them for a moment. */
  private readonly deleted = new Map<string, string>();

  constructor(
    private readonly deps: ScheduleDeps,
    private readonly recorder: EventRecorder,
  ) {}

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const schedule = this.deps.schedules.getByKey(key);
    if (!schedule || schedule.metadata.deletionTimestamp) return;
    const scope = new ScheduleScope(schedule, new Date(this.deps.clock.now()));
    const result = await this.reconcileSchedule(scope);
    scope.status.observedGeneration = schedule.metadata.generation;
    await this.writeStatus(scope);
    this.cursors.set(schedule.metadata.uid, scope.status.nextScheduleTime);
    for (const e of scope.events) await this.recorder.event(schedule, e.type, e.reason, e.message);
    return result;
  }

  private async reconcileSchedule(scope: ScheduleScope): Promise<ReconcileResult | undefined> {
    const schedule = scope.object;
    const { spec } = schedule;
    const cron = CronSchedule.parse(spec.schedule, spec.timeZone);
    if ('error' in cron) {
      scope.status.nextScheduleTime = undefined;
      scope.setCondition(ConditionType.Ready, 'False', Reason.InvalidSchedule, cron.error);
      return undefined; // a new spec wakes us
    }
    const now = scope.now;
    let backups = this.backupsOf(schedule);
    const servers = selectedServers(schedule, this.deps.vms.list(schedule.metadata.namespace));
    let next: Date | undefined;

    if (spec.suspend) {
      // No cursor while suspended: unsuspending starts from the next due time, never a missed one.
      scope.status.nextScheduleTime = undefined;
      scope.setCondition(ConditionType.Ready, 'True', Reason.Suspended, 'Suspended: no backups are made');
    } else {
      const uid = schedule.metadata.uid;
      const written = this.cursors.has(uid) ? this.cursors.get(uid) : schedule.status?.nextScheduleTime;
      const cursor = written ? new Date(written) : undefined;
      const decision = decideRun(cron, cursor, now, spec.startingDeadlineSeconds);
      next = decision.next;
      if (decision.kind !== 'wait' && (this.ran.get(uid) ?? -1) >= decision.due.getTime()) {
        // Already run by this process; the cache shows the status from before.
      } else if (decision.kind === 'run') {
        if (decision.missed > 0) {
          scope.event(
            'Normal',
            Reason.MissedSchedule,
            `${decision.missed} earlier due time(s) passed unrun (the operator was not running): only the latest runs`,
          );
        }
        await runAt(scope, this.deps, decision.due, servers, backups);
        this.ran.set(uid, decision.due.getTime());
        backups = this.backupsOf(schedule);
      } else if (decision.kind === 'late') {
        scope.event(
          'Warning',
          Reason.MissedSchedule,
          `Missed the run due ${metaTime(decision.due)}${decision.missed > 0 ? ` and ${decision.missed} earlier` : ''}: ` +
            `${formatDuration(decision.lateMs)} late, past startingDeadlineSeconds ${spec.startingDeadlineSeconds}; skipped`,
        );
        this.ran.set(uid, decision.due.getTime());
      }
      scope.status.nextScheduleTime = next ? metaTime(next) : undefined;
      scope.setCondition(
        ConditionType.Ready,
        'True',
        Reason.Scheduled,
        next ? `Next run due ${metaTime(next)}` : 'The schedule has no further due time',
      );
    }

    await pruneAll(scope, this.deps, backups, this.deleted);
    this.summarize(scope, cron, servers, this.backupsOf(schedule));
    return next ? { requeueAfter: Math.max(0, next.getTime() - now.getTime()) + WAKE_SLACK_MS } : undefined;
  }

  private backupsOf(schedule: ScheduleObject): Map<string, Backup[]> {
    const listed = this.deps.backups.list(schedule.metadata.namespace);
    // Forget deletions the cache has caught up with (UIDs are unique cluster-wide).
    const present = new Set(listed.map((i) => i.metadata.uid));
    for (const [uid, namespace] of this.deleted) {
      if (namespace === schedule.metadata.namespace && !present.has(uid)) this.deleted.delete(uid);
    }
    return backupsByServer(
      schedule,
      listed.filter((i) => !this.deleted.has(i.metadata.uid)),
    );
  }

  /** Per-VM status, lastSuccessfulTime and BackupsOverdue. */
  private summarize(
    scope: ScheduleScope,
    cron: CronSchedule,
    servers: string[],
    backups: Map<string, Backup[]>,
  ) {
    const selected = servers.map((name) => ({ name, backups: backups.get(name) ?? [] }));
    scope.status.servers = selected.map(serverStatus);
    const newest = Math.max(...[...backups.values()].map((g) => lastActive(g)?.at ?? 0), 0);
    if (newest > 0) scope.status.lastSuccessfulTime = metaTime(new Date(newest));
    if (scope.object.spec.suspend) {
      scope.setCondition(
        ConditionType.BackupsOverdue,
        'False',
        Reason.Suspended,
        'Suspended: no backups are expected',
      );
      return;
    }
    const created = new Date(scope.object.metadata.creationTimestamp ?? scope.now).getTime();
    const period = cron.periodAfter(scope.now);
    const overdue = overdueServers(selected, created, scope.now.getTime(), period);
    if (overdue.length > 0) {
      scope.setCondition(
        ConditionType.BackupsOverdue,
        'True',
        Reason.NoRecentBackup,
        `No Active backup within two periods (${formatDuration(2 * period!)}): ${overdue.join(', ')}`,
      );
    } else {
      scope.setCondition(
        ConditionType.BackupsOverdue,
        'False',
        Reason.BackupsRecent,
        'Every selected VM has an Active backup within two periods',
      );
    }
  }

  private async writeStatus(scope: ScheduleScope): Promise<void> {
    const changes = scope.statusChanges();
    if (!changes) return;
    await patchStatus(
      this.deps.custom,
      {
        resource: SERVERIMAGESCHEDULE_RESOURCE,
        namespace: scope.object.metadata.namespace,
        name: scope.object.metadata.name,
      },
      changes,
      { fieldManager: FIELD_MANAGER },
    );
  }
}
