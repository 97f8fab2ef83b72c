// delete NAME [--wait]: the finalizer applies the deletion policy (Retain or Delete the
// pushed tags); --wait follows the object until the operator has let it go.
import type { DeleteCommand } from '../args.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { formatEta } from '../format/units.js';
import { waitFor } from '../wait.js';
import type { CommandContext } from './context.js';
import { reportOutcome } from './outcome.js';
import { SERVERIMAGE_KUBECTL_NAME } from '../../api/kinds.js';

export async function deleteCommand(command: DeleteCommand, ctx: CommandContext): Promise<ExitCodeValue> {
  const { namespace } = ctx;
  await ctx.client.delete(namespace, command.name);
  ctx.io.stdout.write(`${SERVERIMAGE_KUBECTL_NAME} "${command.name}" deleted\n`);
  if (!command.wait) return ExitCode.Ok;

  const outcome = await waitFor(ctx.client, {
    namespace,
    name: command.name,
    until: 'gone',
    timeoutMs: command.timeoutMs,
    interrupt: ctx.interrupt,
  });
  if (outcome.kind === 'gone') {
    ctx.io.stdout.write(`${SERVERIMAGE_KUBECTL_NAME} "${command.name}" is gone\n`);
    return ExitCode.Ok;
  }
  return reportOutcome(
    outcome,
    {
      namespace,
      name: command.name,
      program: ctx.program,
      waited: formatEta(command.timeoutMs / 1000),
      goal: 'deleted',
    },
    { info: ctx.io.stdout, error: ctx.io.stderr },
  );
}
