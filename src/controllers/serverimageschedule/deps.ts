// What the schedule reconciler works with: caches, the API, the clock.
import type { CustomObjectsApi, KubernetesObject } from '@kubernetes/client-node';
import type { Clock, Logger, ObjectCache } from '../../kube/index.js';
import type { ServerImageObject } from '../serverimage/types.js';
import type { ScheduleObject } from './types.js';

export interface ScheduleDeps {
  clock: Clock;
  logger: Logger;
  custom: CustomObjectsApi;
  schedules: ObjectCache<ScheduleObject>;
  /** ServerImages made by schedules (label serverimage.io/schedule). */
  backups: ObjectCache<ServerImageObject>;
  vms: ObjectCache<KubernetesObject>;
}
