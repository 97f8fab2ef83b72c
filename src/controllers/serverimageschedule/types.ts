// The ServerImageSchedule as the reconciler sees it, and the names it puts on backups.
import type { KubernetesObject, V1ObjectMeta } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../api/names.js';
import { SERVERIMAGESCHEDULE_KIND, SERVERIMAGESCHEDULE_PLURAL } from '../../api/serverimageschedule-crd.js';
import type { ServerImageScheduleSpec, ServerImageScheduleStatus } from '../../api/serverimageschedule.js';

export interface ScheduleObject extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec: ServerImageScheduleSpec;
  status?: ServerImageScheduleStatus;
}

export const SCHEDULE_RESOURCE = {
  group: GROUP,
  version: VERSION,
  plural: SERVERIMAGESCHEDULE_PLURAL,
  kind: SERVERIMAGESCHEDULE_KIND,
};

/** Labels on every backup: which schedule made it, of which VM, in which rotation group. */
export const SCHEDULE_LABEL = 'serverimage.io/schedule';
export const SERVER_LABEL = 'serverimage.io/server';
export const BACKUP_TYPE_LABEL = 'serverimage.io/backup-type';

/** The due time a backup was made for (RFC 3339): rotation orders by it, newest first. */
export const SCHEDULED_TIME_ANNOTATION = 'serverimage.io/scheduled-time';

export const FIELD_MANAGER = 'serverimage-operator';
