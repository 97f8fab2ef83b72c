// Rotation, Nova's way: after a new backup of a VM is Active, its Active backups beyond
// `rotation` go, oldest first. Error backups are never counted or deleted here, and when
// the VM's newest finished backup is an Error (a failed run), nothing goes at all: an old
// good backup is never traded for a failure. Error backups are pruned on their own, to
// failedImagesToKeep (they hold no data: a failed ServerImage purges what it pushed).
import { type Backup, isInFlight, phaseOf } from './backups.js';

export interface Pruning {
  rotated: Backup[];
  failed: Backup[];
}

/** What to delete of one VM's backups (newest first). */
export function pruneBackups(backups: Backup[], rotation: number, failedImagesToKeep: number): Pruning {
  const finished = backups.filter((b) => !isInFlight(b));
  const active = finished.filter((b) => phaseOf(b) === 'Active');
  const failed = finished.filter((b) => phaseOf(b) === 'Error');
  const newestIsActive = finished[0] !== undefined && phaseOf(finished[0]) === 'Active';
  return {
    rotated: newestIsActive ? active.slice(rotation) : [],
    failed: failed.slice(failedImagesToKeep),
  };
}
