// One backup: the ServerImage a schedule makes for a VM at a due time. Nova's createBackup
// properties go into its metadata (image_type=backup, backup_type, instance_uuid), the
// labels say which schedule, VM and rotation group it belongs to, and {vm} in the template
// repository becomes the VM's name.
import { VM_PLACEHOLDER } from '../../api/serverimageschedule.js';
import { API_VERSION, SERVERIMAGE_KIND } from '../../api/kinds.js';
import type { ServerImageSpec } from '../../api/serverimage.js';
import { metaTime } from '../../kube/index.js';
import { backupName, labelValue } from './names.js';
import { type ScheduleObject } from './types.js';
import {
  BACKUP_TYPE_LABEL,
  SCHEDULED_TIME_ANNOTATION,
  SCHEDULE_LABEL,
  SERVER_LABEL,
} from '../../api/metadata-keys.js';

export interface BackupRequest {
  apiVersion: string;
  kind: typeof SERVERIMAGE_KIND;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: ServerImageSpec;
}

export function backupFor(
  schedule: ScheduleObject,
  vm: { name: string; uid: string },
  due: Date,
): BackupRequest {
  const { template, backupType } = schedule.spec;
  const { repository, ...registry } = template.registry;
  return {
    apiVersion: API_VERSION,
    kind: SERVERIMAGE_KIND,
    metadata: {
      name: backupName(schedule.metadata.name, vm.name, due),
      namespace: schedule.metadata.namespace,
      labels: {
        [SCHEDULE_LABEL]: labelValue(schedule.metadata.name),
        [SERVER_LABEL]: labelValue(vm.name),
        [BACKUP_TYPE_LABEL]: backupType,
      },
      annotations: { [SCHEDULED_TIME_ANNOTATION]: metaTime(due) },
    },
    spec: {
      serverRef: { name: vm.name },
      metadata: {
        ...template.metadata,
        image_type: 'backup',
        backup_type: backupType,
        instance_uuid: vm.uid,
      },
      registry: { ...registry, repository: repository.replaceAll(VM_PLACEHOLDER, vm.name) },
      ...(template.volumes ? { volumes: template.volumes } : {}),
      format: template.format,
      deletionPolicy: template.deletionPolicy,
      ...(template.verify ? { verify: template.verify } : {}),
    },
  };
}
