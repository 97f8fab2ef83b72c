// The per-VM part of a schedule's status, and the "no backup within two periods" check
// behind the BackupsOverdue condition and the last-success metric.
import type { ScheduledServerStatus } from '../../api/serverimageschedule.js';
import { metaTime } from '../../kube/index.js';
import { type Backup, completedAt, phaseOf } from './backups.js';

export interface ServerBackups {
  name: string;
  backups: Backup[];
}

/** The newest Active backup of a VM and when it became Active. */
export function lastActive(backups: Backup[]): { name: string; at: number } | undefined {
  const newest = backups.find((b) => phaseOf(b) === 'Active');
  if (!newest) return undefined;
  return { name: newest.image.metadata.name, at: completedAt(newest) ?? newest.scheduledAt };
}

export function serverStatus({ name, backups }: ServerBackups): ScheduledServerStatus {
  const active = lastActive(backups);
  const latest = backups[0];
  return {
    name,
    ...(active ? { lastImage: active.name, lastActiveTime: metaTime(new Date(active.at)) } : {}),
    ...(latest
      ? {
          lastScheduledImage: latest.image.metadata.name,
          lastScheduledPhase: phaseOf(latest) ?? 'Queued',
        }
      : {}),
  };
}

/**
 * The VMs whose newest Active backup was due (or, without one, the schedule was created)
 * more than two periods ago: a backup policy that has not delivered. Measured from the due
 * time, on the schedule's own clock, rather than from when the image became Active.
 */
export function overdueServers(
  servers: ServerBackups[],
  since: number,
  now: number,
  periodMs: number | undefined,
): string[] {
  if (periodMs === undefined) return [];
  return servers
    .filter(({ backups }) => {
      const newest = backups.find((b) => phaseOf(b) === 'Active');
      return now - (newest?.scheduledAt ?? since) > 2 * periodMs;
    })
    .map((s) => s.name);
}
