// What the progress display shows of a ServerImage: its phase, the current step (the
// Ready condition carries the reason and message of whatever is happening or wrong),
// and the byte counts. "Accepted" stands for an object the operator has not written yet.
import type { StoredServerImage } from '../server-image-client.js';
import { readyCondition } from '../../api/condition.js';

export interface ProgressView {
  phase: string;
  reason?: string;
  message?: string;
  bytesDone?: number;
  bytesTotal?: number;
}

export function progressView(image: StoredServerImage): ProgressView {
  const status = image.status ?? {};
  const ready = readyCondition(image);
  return {
    phase: status.phase ?? 'Accepted',
    ...(ready?.reason ? { reason: ready.reason } : {}),
    ...(ready?.message ? { message: ready.message } : {}),
    ...(status.progress
      ? { bytesDone: status.progress.bytesDone, bytesTotal: status.progress.bytesTotal }
      : {}),
  };
}

/** Two views print the same plain line when nothing a reader sees has changed. */
export function sameView(a: ProgressView | undefined, b: ProgressView): boolean {
  return (
    a !== undefined &&
    a.phase === b.phase &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.bytesDone === b.bytesDone &&
    a.bytesTotal === b.bytesTotal
  );
}
