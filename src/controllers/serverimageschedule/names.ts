// Deterministic names of backups: the same schedule, VM and due time always give the same
// ServerImage name, so a second leader (or a retry) creating it again gets AlreadyExists
// instead of a second backup.
import { createHash } from 'node:crypto';

// The name is also the boot volume's tag (at most 128 characters); a DNS subdomain allows 253.
const MAX_NAME = 128;
const MAX_LABEL_VALUE = 63;

const shortHash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 8);
const trimEnd = (text: string) => text.replace(/[-.]+$/, '');

/** yyyymmdd-hhmmss in UTC. */
export function timeStamp(due: Date): string {
  const iso = due.toISOString();
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
}

/** `<schedule>-<vm>-<yyyymmdd-hhmmss>`; when that is too long, shortened with a hash of the full pair. */
export function backupName(schedule: string, vm: string, due: Date): string {
  const stamp = timeStamp(due);
  const full = `${schedule}-${vm}-${stamp}`;
  if (full.length <= MAX_NAME) return full;
  const hash = shortHash(`${schedule}/${vm}`);
  const room = MAX_NAME - stamp.length - hash.length - 2;
  return `${trimEnd(`${schedule}-${vm}`.slice(0, room))}-${hash}-${stamp}`;
}

/** A name as a label value (at most 63 characters): itself, or a prefix and a hash. */
export function labelValue(name: string): string {
  if (name.length <= MAX_LABEL_VALUE) return name;
  const hash = shortHash(name);
  return `${trimEnd(name.slice(0, MAX_LABEL_VALUE - hash.length - 1))}-${hash}`;
}
