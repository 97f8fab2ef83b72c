// The part of `create --wait` and `wait` that is the same: follow one ServerImage by watch
// until Active or Error (or --timeout, or Ctrl-C) with the progress reporter, then say how
// it ended and turn that into the exit code. One function so both commands behave alike.
import type { ExitCodeValue } from '../exit-codes.js';
import { formatObject } from '../format/output.js';
import { formatEta } from '../format/units.js';
import { terminalColumns } from '../io.js';
import { progressReporter } from '../progress/reporter.js';
import { waitFor } from '../wait.js';
import type { CommandContext } from './context.js';
import { reportOutcome } from './outcome.js';

export interface FollowTarget {
  namespace: string;
  name: string;
  timeoutMs: number;
  /** Print the ServerImage as it ended on stdout; then all that people read goes to stderr. */
  output?: 'json' | 'yaml' | undefined;
  /** What the first line says before "; waiting up to ...", e.g. "serverimage.serverimage.io/x created". */
  headline: string;
}

export async function followAndReport(target: FollowTarget, ctx: CommandContext): Promise<ExitCodeValue> {
  const { io } = ctx;
  const { namespace, name } = target;
  // With -o the object goes to stdout alone (it must parse); what people read goes to stderr.
  const info = target.output ? io.stderr : io.stdout;
  const waited = formatEta(target.timeoutMs / 1000);
  info.write(`${target.headline}; waiting up to ${waited} for Active\n`);

  const reporter = progressReporter(info, () => terminalColumns(info, io.env));
  const outcome = await waitFor(ctx.client, {
    namespace,
    name,
    until: 'done',
    timeoutMs: target.timeoutMs,
    interrupt: ctx.interrupt,
    onChange: (image) => reporter.update(image),
  });
  reporter.stop();
  if (target.output && 'image' in outcome && outcome.image) {
    io.stdout.write(formatObject(outcome.image, target.output));
  }
  return reportOutcome(
    outcome,
    { namespace, name, program: ctx.program, waited, goal: 'Active' },
    { info, error: io.stderr },
  );
}
