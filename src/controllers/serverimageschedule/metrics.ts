// The schedules' gauges, read from the caches at each scrape (no state to keep in step):
//   serverimage_schedule_last_success_timestamp_seconds{namespace,schedule,server}: when the
//     newest Active backup of each VM of each schedule became Active. An alert on
//     `time() - it > 26*3600` says "no backup of this VM for 26h".
//   serverimage_schedule_active_backups{namespace,schedule,server}: the Active backups
//     rotation keeps of each VM (at most `rotation`).
//   serverimage_schedule_last_run_timestamp_seconds / _next_run_timestamp_seconds
//     {namespace,schedule}: the due times in its status; the next one is absent while
//     suspended. A next run far in the past is a schedule that did not run; the gap
//     between the two is its period, which a VM's backup age is measured against.
// Series are per schedule and per VM a schedule selects: bounded by the objects in the
// cluster, like kube-state-metrics', never by time or by image.
import { Gauge, type Registry } from 'prom-client';
import type { ObjectCache } from '../../kube/index.js';
import type { ServerImageObject } from '../serverimage/types.js';
import { type Backup, backupsByServer, phaseOf } from './backups.js';
import { lastActive } from './server-status.js';
import type { ScheduleObject } from './types.js';

const seconds = (time: string | undefined) => (time ? new Date(time).getTime() / 1000 : undefined);

type PerServer = (backups: Backup[]) => number | undefined;
type PerSchedule = (schedule: ScheduleObject) => number | undefined;

const perServer: Record<string, { help: string; value: PerServer }> = {
  serverimage_schedule_last_success_timestamp_seconds: {
    help: 'When the newest Active backup of a VM made by a ServerImageSchedule became Active (Unix seconds)',
    value: (group) => {
      const active = lastActive(group);
      return active ? active.at / 1000 : undefined;
    },
  },
  serverimage_schedule_active_backups: {
    help: 'Active backups of a VM kept by a ServerImageSchedule',
    value: (group) => group.filter((b) => phaseOf(b) === 'Active').length,
  },
};

const perSchedule: Record<string, { help: string; value: PerSchedule }> = {
  serverimage_schedule_last_run_timestamp_seconds: {
    help: 'The due time of the latest run of a ServerImageSchedule (Unix seconds)',
    value: (s) => seconds(s.status?.lastScheduleTime),
  },
  serverimage_schedule_next_run_timestamp_seconds: {
    help: 'The next due time of a ServerImageSchedule (Unix seconds); absent while suspended',
    value: (s) => seconds(s.status?.nextScheduleTime),
  },
};

export function registerScheduleMetrics(
  registry: Registry,
  schedules: ObjectCache<ScheduleObject>,
  backups: ObjectCache<ServerImageObject>,
): void {
  for (const [name, { help, value }] of Object.entries(perServer)) {
    new Gauge({
      name,
      help,
      labelNames: ['namespace', 'schedule', 'server'],
      registers: [registry],
      collect() {
        this.reset();
        for (const schedule of schedules.list()) {
          const { namespace, name: scheduleName } = schedule.metadata;
          for (const [server, group] of backupsByServer(schedule, backups.list(namespace))) {
            const labels = { namespace, schedule: scheduleName, server };
            const v = value(group);
            if (v !== undefined) this.set(labels, v);
          }
        }
      },
    });
  }
  for (const [name, { help, value }] of Object.entries(perSchedule)) {
    new Gauge({
      name,
      help,
      labelNames: ['namespace', 'schedule'],
      registers: [registry],
      collect() {
        this.reset();
        for (const schedule of schedules.list()) {
          const v = value(schedule);
          if (v !== undefined)
            this.set({ namespace: schedule.metadata.namespace, schedule: schedule.metadata.name }, v);
        }
      },
    });
  }
}
