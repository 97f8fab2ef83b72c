// list [-n NS | -A] [-o wide|json|yaml]: like kubectl get serverimages, with progress and
// the schedule that made each backup.
import type { ListCommand } from '../args.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { formatObject } from '../format/output.js';
import { formatTable } from '../format/table.js';
import { ageOf, percent } from '../format/units.js';
import type { StoredServerImage } from '../server-image-client.js';
import type { CommandContext } from './context.js';
import { readyCondition } from '../../api/condition.js';
import { SCHEDULE_LABEL } from '../../api/metadata-keys.js';

function progressColumn(image: StoredServerImage): string {
  const progress = image.status?.progress;
  return progress ? `${percent(progress.bytesDone, progress.bytesTotal)}%` : '-';
}

/** The ServerImageSchedule that made an image (its label), '-' for one made by hand. */
export const scheduleOf = (image: StoredServerImage): string =>
  (image.metadata.labels as Record<string, string> | undefined)?.[SCHEDULE_LABEL] ?? '-';

export function listRows(items: StoredServerImage[], wide: boolean, allNamespaces: boolean, now: Date) {
  const headers = ['NAME', 'SERVER', 'SCHEDULE', 'PHASE', 'PROGRESS', 'IMAGE', 'AGE'];
  if (wide) {
    headers.splice(5, 0, 'REASON');
    headers.push('DIGEST');
  }
  if (allNamespaces) headers.unshift('NAMESPACE');
  const rows = items.map((image) => {
    const status = image.status ?? {};
    const boot = status.images?.[0];
    const row = [
      image.metadata.name,
      image.spec.serverRef.name,
      scheduleOf(image),
      status.phase ?? '-',
      progressColumn(image),
      boot?.reference ?? '-',
      ageOf(image.metadata.creationTimestamp, now),
    ];
    if (wide) {
      row.splice(5, 0, readyCondition(image)?.reason ?? '-');
      row.push(boot?.digest ?? '-');
    }
    if (allNamespaces) row.unshift(image.metadata.namespace);
    return row;
  });
  return { headers, rows };
}

export async function listCommand(command: ListCommand, ctx: CommandContext): Promise<ExitCodeValue> {
  const list = await ctx.client.list(command.allNamespaces ? undefined : ctx.namespace);
  if (command.output === 'json' || command.output === 'yaml') {
    ctx.io.stdout.write(formatObject(list, command.output));
    return ExitCode.Ok;
  }
  if (list.items.length === 0) {
    const where = command.allNamespaces ? '' : ` in ${ctx.namespace} namespace`;
    ctx.io.stderr.write(`No ServerImages found${where}.\n`);
    return ExitCode.Ok;
  }
  const { headers, rows } = listRows(
    list.items,
    command.output === 'wide',
    command.allNamespaces,
    ctx.io.now(),
  );
  ctx.io.stdout.write(formatTable(headers, rows));
  return ExitCode.Ok;
}
