// Deletes what rotation and failedImagesToKeep say must go, with an Event each. A
// ServerImage's own finalizer then runs its deletion policy on the registry tags.
import { isNotFound } from '../../kube/index.js';
import type { Backup } from './backups.js';
import type { ScheduleDeps } from './deps.js';
import { Reason } from '../../api/serverimageschedule-conditions.js';
import { pruneBackups } from './rotation.js';
import type { ScheduleScope } from './scope.js';
import { SERVERIMAGE_RESOURCE } from '../../api/kinds.js';

async function deleteBackup(deps: ScheduleDeps, backup: Backup, deleted: Map<string, string>): Promise<void> {
  const { namespace, name, uid } = backup.image.metadata;
  try {
    await deps.custom.deleteNamespacedCustomObject({ ...SERVERIMAGE_RESOURCE, namespace, name });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  deleted.set(uid, namespace);
}

export async function pruneAll(
  scope: ScheduleScope,
  deps: ScheduleDeps,
  backups: Map<string, Backup[]>,
  deleted: Map<string, string>,
): Promise<void> {
  const { rotation, failedImagesToKeep } = scope.object.spec;
  for (const [vm, group] of backups) {
    const { rotated, failed } = pruneBackups(group, rotation, failedImagesToKeep);
    for (const backup of rotated) {
      await deleteBackup(deps, backup, deleted);
      scope.event(
        'Normal',
        Reason.RotatedImage,
        `Deleted ServerImage ${backup.image.metadata.name} of VirtualMachine ${vm}: rotation keeps the ${rotation} newest Active backups`,
      );
    }
    for (const backup of failed) {
      await deleteBackup(deps, backup, deleted);
      scope.event(
        'Normal',
        Reason.DeletedFailedImage,
        `Deleted failed ServerImage ${backup.image.metadata.name} of VirtualMachine ${vm}: failedImagesToKeep is ${failedImagesToKeep}`,
      );
    }
  }
}
