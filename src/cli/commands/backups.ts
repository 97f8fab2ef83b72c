// backups VM [-o json|yaml]: every image of one VirtualMachine, newest first (by the due
// time a schedule made it for, else its creation), with the schedule and backup type that
// made it: what is there to restore from, after rotation.
import type { BackupsCommand } from '../args.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { formatObject } from '../format/output.js';
import { formatTable } from '../format/table.js';
import { ageOf } from '../format/units.js';
import type { StoredServerImage } from '../server-image-client.js';
import type { CommandContext } from './context.js';
import { scheduleOf } from './list.js';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';
import { BACKUP_TYPE_LABEL, SCHEDULED_TIME_ANNOTATION } from '../../api/metadata-keys.js';

const labelOf = (image: StoredServerImage, key: string) =>
  (image.metadata.labels as Record<string, string> | undefined)?.[key];

/** The time an image stands for: the due time of a scheduled backup, else its creation. */
export const imageTime = (image: StoredServerImage): string | undefined =>
  (image.metadata.annotations as Record<string, string> | undefined)?.[SCHEDULED_TIME_ANNOTATION] ??
  image.metadata.creationTimestamp;

export function backupsOfVm(items: StoredServerImage[], vm: string): StoredServerImage[] {
  const at = (i: StoredServerImage) => new Date(imageTime(i) ?? 0).getTime();
  return items
    .filter((i) => i.spec.serverRef.name === vm)
    .sort((a, b) => at(b) - at(a) || b.metadata.name.localeCompare(a.metadata.name));
}

/** The boot verification's result (spec.verify.boot): Verified, VerificationFailed, Verifying, Waiting (for a slot), NotPossible or -. */
export function verifiedOf(image: StoredServerImage): string {
  const result = image.status?.verification?.result;
  if (result) return result;
  const condition = image.status?.conditions?.find((c) => c.type === ConditionType.Verified);
  if (condition?.reason === Reason.WaitingForVerificationSlot) return 'Waiting';
  return condition?.reason === Reason.VerificationNotPossible ? 'NotPossible' : '-';
}

export function backupRows(items: StoredServerImage[], now: Date) {
  const headers = ['NAME', 'SCHEDULE', 'BACKUP-TYPE', 'PHASE', 'VERIFIED', 'TIME', 'IMAGE', 'AGE'];
  const rows = items.map((image) => [
    image.metadata.name,
    scheduleOf(image),
    labelOf(image, BACKUP_TYPE_LABEL) ?? '-',
    image.status?.phase ?? '-',
    verifiedOf(image),
    imageTime(image) ?? '-',
    image.status?.images?.[0]?.reference ?? '-',
    ageOf(image.metadata.creationTimestamp, now),
  ]);
  return { headers, rows };
}

export async function backupsCommand(command: BackupsCommand, ctx: CommandContext): Promise<ExitCodeValue> {
  const list = await ctx.client.list(ctx.namespace);
  const items = backupsOfVm(list.items, command.vm);
  if (command.output) {
    ctx.io.stdout.write(formatObject({ ...list, items }, command.output));
    return ExitCode.Ok;
  }
  if (items.length === 0) {
    ctx.io.stderr.write(`No images of VirtualMachine ${command.vm} found in ${ctx.namespace} namespace.\n`);
    return ExitCode.Ok;
  }
  const { headers, rows } = backupRows(items, ctx.io.now());
  ctx.io.stdout.write(formatTable(headers, rows));
  return ExitCode.Ok;
}
