// describe NAME [-o json|yaml]: the object and its Events, for people (or the object as is).
import type { DescribeCommand } from '../args.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { describeServerImage } from '../format/describe.js';
import { formatObject } from '../format/output.js';
import type { CommandContext } from './context.js';

export async function describeCommand(command: DescribeCommand, ctx: CommandContext): Promise<ExitCodeValue> {
  const image = await ctx.client.get(ctx.namespace, command.name);
  if (command.output) {
    ctx.io.stdout.write(formatObject(image, command.output));
    return ExitCode.Ok;
  }
  const events = await ctx.client.events(image);
  ctx.io.stdout.write(describeServerImage(image, events, ctx.io.now()));
  return ExitCode.Ok;
}
