// A schedule's backups as found in the cache, grouped per VM (Nova's rotation group:
// one server, one backup_type), newest first by the due time they were made for.
import type { ServerImageObject } from '../serverimage/types.js';
import { type ScheduleObject } from './types.js';
import { labelValue } from './names.js';
import { BACKUP_TYPE_LABEL, SCHEDULED_TIME_ANNOTATION, SCHEDULE_LABEL } from '../../api/metadata-keys.js';

export interface Backup {
  image: ServerImageObject;
  /** The due time it was made for (ms), else its creation time. */
  scheduledAt: number;
}

const scheduledAt = (si: ServerImageObject): number => {
  const at = si.metadata.annotations?.[SCHEDULED_TIME_ANNOTATION] ?? si.metadata.creationTimestamp;
  return at ? new Date(at).getTime() : 0;
};

/** This schedule's backups of its current backupType, by VM name, newest first; deleting ones left out. */
export function backupsByServer(
  schedule: ScheduleObject,
  images: ServerImageObject[],
): Map<string, Backup[]> {
  const groups = new Map<string, Backup[]>();
  for (const image of images) {
    const labels = image.metadata.labels ?? {};
    if (image.metadata.namespace !== schedule.metadata.namespace) continue;
    if (labels[SCHEDULE_LABEL] !== labelValue(schedule.metadata.name)) continue;
    if (labels[BACKUP_TYPE_LABEL] !== schedule.spec.backupType) continue;
    if (image.metadata.deletionTimestamp) continue;
    const vm = image.spec.serverRef.name;
    const group = groups.get(vm) ?? [];
    group.push({ image, scheduledAt: scheduledAt(image) });
    groups.set(vm, group);
  }
  for (const group of groups.values()) {
    group.sort(
      (a, b) => b.scheduledAt - a.scheduledAt || b.image.metadata.name.localeCompare(a.image.metadata.name),
    );
  }
  return groups;
}

export const phaseOf = (b: Backup) => b.image.status?.phase;
export const isInFlight = (b: Backup) => {
  const phase = phaseOf(b);
  return phase === undefined || phase === 'Queued' || phase === 'Saving';
};
export const completedAt = (b: Backup): number | undefined => {
  const t = b.image.status?.completionTime;
  return t ? new Date(t).getTime() : undefined;
};
