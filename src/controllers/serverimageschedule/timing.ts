// When to run, as CronJob decides it, with the one cursor kept in status: nextScheduleTime.
// - No cursor (a new schedule, or one just unsuspended: suspending removes it): the first
//   due time after now. Nothing fires at once, so unsuspending never fires a missed run.
// - A cursor the schedule no longer produces (the spec changed): likewise from now.
// - The cursor passed (a due time, or several while the operator was down): only the most
//   recent passed due time runs, and only within startingDeadlineSeconds; older ones are
//   dropped. A leader that dies after stamping but before writing status leaves the cursor
//   where it was: its successor runs the same due time again, and the deterministic names
//   make that a no-op.
import type { CronSchedule } from './cron.js';

export type RunDecision =
  | { kind: 'wait'; next: Date | undefined }
  | { kind: 'run'; due: Date; missed: number; next: Date | undefined }
  | { kind: 'late'; due: Date; lateMs: number; missed: number; next: Date | undefined };

export function decideRun(
  schedule: CronSchedule,
  cursor: Date | undefined,
  now: Date,
  startingDeadlineSeconds?: number,
): RunDecision {
  const nextAfterNow = schedule.next(now);
  const valid =
    cursor !== undefined &&
    schedule.isDue(cursor) &&
    (nextAfterNow === undefined || cursor.getTime() <= nextAfterNow.getTime());
  if (!valid || cursor.getTime() > now.getTime())
    return { kind: 'wait', next: valid ? cursor : nextAfterNow };

  const { times, count } = schedule.dueBetween(new Date(cursor.getTime() - 1), now, 1);
  const due = times[times.length - 1] ?? cursor;
  const missed = Math.max(0, count - 1);
  const lateMs = now.getTime() - due.getTime();
  if (startingDeadlineSeconds !== undefined && lateMs > startingDeadlineSeconds * 1000) {
    return { kind: 'late', due, lateMs, missed, next: nextAfterNow };
  }
  return { kind: 'run', due, missed, next: nextAfterNow };
}
