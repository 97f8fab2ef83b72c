// wait NAME: `create --wait` for a ServerImage someone else made (kubectl apply, a GitOps
// tool): the same following, progress and exit codes. The object is read first so that a
// missing one is the API server's NotFound, as kubectl says it, not "deleted while waiting".
import type { WaitCommand } from '../args.js';
import type { ExitCodeValue } from '../exit-codes.js';
import type { CommandContext } from './context.js';
import { followAndReport } from './follow-and-report.js';
import { reportOutcome } from './outcome.js';
import { formatObject } from '../format/output.js';
import { isDone } from '../wait.js';
import { SERVERIMAGE_KUBECTL_NAME } from '../../api/kinds.js';

export async function waitCommand(command: WaitCommand, ctx: CommandContext): Promise<ExitCodeValue> {
  const image = await ctx.client.get(ctx.namespace, command.name);
  const { name, namespace } = image.metadata;
  const phase = image.status?.phase;
  if (isDone(image)) {
    // Already ended: say how, once (no "waiting up to", no progress line repeating the error).
    if (command.output) ctx.io.stdout.write(formatObject(image, command.output));
    const info = command.output ? ctx.io.stderr : ctx.io.stdout;
    return reportOutcome(
      { kind: phase as 'Active' | 'Error', image },
      { namespace, name, program: ctx.program, waited: '0s', goal: 'Active' },
      { info, error: ctx.io.stderr },
    );
  }
  return followAndReport(
    {
      namespace,
      name,
      timeoutMs: command.timeoutMs,
      output: command.output,
      headline: `${SERVERIMAGE_KUBECTL_NAME}/${name} in namespace ${namespace} is ${phase ?? 'not yet seen by the operator'}`,
    },
    ctx,
  );
}
