// How a wait ended, told to the user: the pushed images on Active, the reason and
// message on Error, what is still going on after a timeout or Ctrl-C. Returns the exit code.
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { formatTable } from '../format/table.js';
import { formatBytes, formatEta } from '../format/units.js';
import type { OutputStream } from '../io.js';
import type { StoredServerImage } from '../server-image-client.js';
import type { WaitOutcome } from '../wait.js';
import { readyCondition } from '../../api/condition.js';
import { ConditionType } from '../../api/serverimage-conditions.js';

function took(image: StoredServerImage): string {
  const { startTime, completionTime } = image.status ?? {};
  if (!startTime || !completionTime) return '';
  return ` in ${formatEta((Date.parse(completionTime) - Date.parse(startTime)) / 1000)}`;
}

export function imagesTable(image: StoredServerImage, indent = ''): string {
  const images = image.status?.images ?? [];
  return formatTable(
    ['VOLUME', 'REFERENCE', 'DIGEST', 'SIZE', 'FORMAT'],
    images.map((i) => [i.volume, i.reference, i.digest, formatBytes(i.size), i.diskFormat]),
    indent,
  );
}

function describeActive(image: StoredServerImage): string {
  const { namespace, name } = image.metadata;
  const status = image.status ?? {};
  const lines = [`ServerImage ${namespace}/${name} is Active${took(image)}.`, imagesTable(image).trimEnd()];
  const indications = status.snapshot?.indications ?? [];
  lines.push(`Snapshot: ${status.snapshot?.name ?? '-'} (${indications.join(', ') || 'offline'})`);
  const restored = status.conditions?.find((c) => c.type === ConditionType.ServerRestored);
  if (restored && restored.status !== 'True') lines.push(`Warning: ${restored.reason}: ${restored.message}`);
  return `${lines.join('\n')}\n`;
}

export function reportOutcome(
  outcome: WaitOutcome,
  names: { namespace: string; name: string; program: string; waited: string; goal: 'Active' | 'deleted' },
  out: { info: OutputStream; error: OutputStream },
): ExitCodeValue {
  const key = `${names.namespace}/${names.name}`;
  switch (outcome.kind) {
    case 'Active':
      out.info.write(describeActive(outcome.image));
      return ExitCode.Ok;
    case 'Error': {
      const ready = readyCondition(outcome.image);
      out.error.write(
        `error: ServerImage ${key} failed: ${ready?.reason ?? 'Error'}: ${ready?.message ?? ''}\n`,
      );
      return ExitCode.Failed;
    }
    case 'gone':
      out.error.write(`error: ServerImage ${key} was deleted while waiting\n`);
      return ExitCode.Failed;
    case 'timeout':
    case 'interrupted': {
      const phase = outcome.image?.status?.phase ?? 'not yet seen by the operator';
      const ready = readyCondition(outcome.image);
      const now = ready ? ` (${ready.reason}: ${ready.message})` : '';
      const why = outcome.kind === 'timeout' ? `timed out after ${names.waited}` : 'interrupted';
      out.error.write(
        `error: ${why} waiting for ServerImage ${key} to be ${names.goal}: still ${phase}${now}.\n` +
          `It goes on; see: ${names.program} describe ${names.name} -n ${names.namespace}\n`,
      );
      return outcome.kind === 'timeout' ? ExitCode.Timeout : ExitCode.Interrupted;
    }
  }
}
