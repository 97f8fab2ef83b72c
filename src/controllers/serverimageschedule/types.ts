// The ServerImageSchedule as the reconciler sees it. Its names (kind, resource, the
// labels it puts on backups) are in src/api/.
import type { KubernetesObject, V1ObjectMeta } from '@kubernetes/client-node';
import type { ServerImageScheduleSpec, ServerImageScheduleStatus } from '../../api/serverimageschedule.js';

export interface ScheduleObject extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec: ServerImageScheduleSpec;
  status?: ServerImageScheduleStatus;
}
