// create VM [--wait]: Nova's createImage. The request goes to the API server as it is
// (its refusal is the user's answer); with --wait the object is followed to the end.
import type { CreateCommand } from '../args.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { formatObject } from '../format/output.js';
import { formatEta } from '../format/units.js';
import { terminalColumns } from '../io.js';
import { progressReporter } from '../progress/reporter.js';
import { buildServerImage } from '../server-image-request.js';
import { waitFor } from '../wait.js';
import type { CommandContext } from './context.js';
import { reportOutcome } from './outcome.js';

export async function createCommand(command: CreateCommand, ctx: CommandContext): Promise<ExitCodeValue> {
  const { io, client } = ctx;
  const created = await client.create(buildServerImage(command, ctx.namespace, io.now()));
  const { name, namespace } = created.metadata;
  // With -o the object goes to stdout alone (it must parse); what people read goes to stderr.
  const info = command.output ? io.stderr : io.stdout;
  if (!command.wait) {
    if (command.output) io.stdout.write(formatObject(created, command.output));
    else io.stdout.write(`serverimage.serverimage.io/${name} created\n`);
    return ExitCode.Ok;
  }

  const waited = formatEta(command.timeoutMs / 1000);
  info.write(
    `serverimage.serverimage.io/${name} created in namespace ${namespace}; waiting up to ${waited} for Active\n`,
  );
  const reporter = progressReporter(info, () => terminalColumns(info, io.env));
  const outcome = await waitFor(client, {
    namespace,
    name,
    until: 'done',
    timeoutMs: command.timeoutMs,
    interrupt: ctx.interrupt,
    onChange: (image) => reporter.update(image),
  });
  reporter.stop();
  if (command.output && 'image' in outcome && outcome.image) {
    io.stdout.write(formatObject(outcome.image, command.output));
  }
  return reportOutcome(
    outcome,
    { namespace, name, program: ctx.program, waited, goal: 'Active' },
    { info, error: io.stderr },
  );
}
