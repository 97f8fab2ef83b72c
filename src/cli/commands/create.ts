// create VM [--wait]: Nova's createImage. The request goes to the API server as it is
// (its refusal is the user's answer); with --wait the object is followed to the end.
import type { CreateCommand } from '../args.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { formatObject } from '../format/output.js';
import { buildServerImage } from '../server-image-request.js';
import type { CommandContext } from './context.js';
import { followAndReport } from './follow-and-report.js';
import { SERVERIMAGE_KUBECTL_NAME } from '../../api/kinds.js';

export async function createCommand(command: CreateCommand, ctx: CommandContext): Promise<ExitCodeValue> {
  const { io, client } = ctx;
  const created = await client.create(buildServerImage(command, ctx.namespace, io.now()));
  const { name, namespace } = created.metadata;
  if (!command.wait) {
    if (command.output) io.stdout.write(formatObject(created, command.output));
    else io.stdout.write(`${SERVERIMAGE_KUBECTL_NAME}/${name} created\n`);
    return ExitCode.Ok;
  }
  return followAndReport(
    {
      namespace,
      name,
      timeoutMs: command.timeoutMs,
      output: command.output,
      headline: `${SERVERIMAGE_KUBECTL_NAME}/${name} created in namespace ${namespace}`,
    },
    ctx,
  );
}
