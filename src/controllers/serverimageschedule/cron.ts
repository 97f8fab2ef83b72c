// Schedule arithmetic: when a cron line in an IANA zone is due. croner does the calendar
// (zones and daylight saving through Intl: a time skipped by spring-forward runs at the
// first minute after the gap, a time repeated by fall-back runs once, at its first
// occurrence); this file only asks it questions, all in absolute instants.
import { Cron } from 'croner';

export class CronSchedule {
  private constructor(private readonly cron: Cron) {}

  /** The schedule, or the reason croner refuses it (a range CEL could not check, a zone it does not know). */
  static parse(pattern: string, timeZone: string): CronSchedule | { error: string } {
    try {
      // paused: a pattern to evaluate, not a timer to run.
      const cron = new Cron(pattern, { timezone: timeZone, paused: true, mode: '5-or-6-parts' });
      // A zone unknown to Intl fails only on first use.
      cron.nextRun(new Date(0));
      return new CronSchedule(cron);
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** The first due time strictly after `after`, or undefined when there is none (e.g. 30 Feb). */
  next(after: Date): Date | undefined {
    return this.cron.nextRun(after) ?? undefined;
  }

  /** Whether `time` is one of the due times. */
  isDue(time: Date): boolean {
    return this.next(new Date(time.getTime() - 1))?.getTime() === time.getTime();
  }

  /**
   * The due times in (`from`, `to`], oldest first, at most `limit` of them (the newest
   * `limit` when there are more), and how many there were in all.
   */
  dueBetween(from: Date, to: Date, limit = 2): { times: Date[]; count: number } {
    const times: Date[] = [];
    let count = 0;
    for (let t = this.next(from); t && t <= to; t = this.next(t)) {
      count++;
      times.push(t);
      if (times.length > limit) times.shift();
      // A schedule every second, down for a year, is 31 million times: enough to know it is many.
      if (count >= 100_000) break;
    }
    return { times, count };
  }

  /** The length of the period that starts at the next due time after `after` (for "two periods late"). */
  periodAfter(after: Date): number | undefined {
    const first = this.next(after);
    const second = first && this.next(first);
    return first && second ? second.getTime() - first.getTime() : undefined;
  }
}
