// serverimage_schedule_last_success_timestamp_seconds{namespace,schedule,server}: when the
// newest Active backup of each VM of each schedule became Active, read from the caches at
// each scrape (no state to keep in step). An alert on `time() - it > 26*3600` says "no
// backup of this VM for 26h" (the chart's example PrometheusRule).
import { Gauge, type Registry } from 'prom-client';
import type { ObjectCache } from '../../kube/index.js';
import type { ServerImageObject } from '../serverimage/types.js';
import { backupsByServer } from './backups.js';
import { lastActive } from './server-status.js';
import type { ScheduleObject } from './types.js';

export function registerScheduleMetrics(
  registry: Registry,
  schedules: ObjectCache<ScheduleObject>,
  backups: ObjectCache<ServerImageObject>,
): void {
  new Gauge({
    name: 'serverimage_schedule_last_success_timestamp_seconds',
    help: 'When the newest Active backup of a VM made by a ServerImageSchedule became Active (Unix seconds)',
    labelNames: ['namespace', 'schedule', 'server'],
    registers: [registry],
    collect() {
      this.reset();
      for (const schedule of schedules.list()) {
        const { namespace, name } = schedule.metadata;
        for (const [server, group] of backupsByServer(schedule, backups.list(namespace))) {
          const active = lastActive(group);
          if (active) this.set({ namespace, schedule: name, server }, active.at / 1000);
        }
      }
    },
  });
}
