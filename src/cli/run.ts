// One CLI invocation: parse, connect, run the command, and turn whatever went wrong into
// a message and an exit code (the API server's own message for a refused request).
import { readFileSync } from 'node:fs';
import { parseCommandLine, type ParsedCommand } from './args.js';
import { apiErrorMessage } from './api-error.js';
import { describeClientError, isUnreachable, unreachableMessage } from '../kube/client-error.js';
import { serverOf } from '../kube/cluster-config.js';
import { COMMAND_TABLE, type CommandSpec } from './command-table.js';
import type { CommandContext } from './commands/context.js';
import { CliError, ExitCode, UsageError, type ExitCodeValue } from './exit-codes.js';
import type { CliIo } from './io.js';
import { loadKubeTarget } from './kube-context.js';
import { ServerImageClient } from './server-image-client.js';
import { helpText } from './usage.js';

function version(): string {
  // src/cli/run.ts and dist/cli/run.js both sit two levels below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The API server's address once the kubeconfig is read, for a message when it cannot be reached. */
interface Reached {
  server?: string;
}

async function dispatch(
  parsed: ParsedCommand,
  io: CliIo,
  program: string,
  interrupt: AbortSignal,
  reached: Reached,
) {
  switch (parsed.command) {
    case 'help':
      io.stdout.write(helpText(program, parsed.topic));
      return ExitCode.Ok;
    case 'version':
      io.stdout.write(`serverimage ${version()}\n`);
      return ExitCode.Ok;
  }
  const target = loadKubeTarget(parsed.cluster);
  reached.server = serverOf(target.kubeConfig);
  const ctx: CommandContext = {
    io,
    client: new ServerImageClient(target.kubeConfig),
    namespace: target.namespace,
    interrupt,
    program,
  };
  // The table's entry for this command runs it (its parse made `parsed` of its own type).
  const spec = COMMAND_TABLE[parsed.command] as CommandSpec<typeof parsed>;
  return spec.run(parsed, ctx);
}

export async function runCli(
  argv: string[],
  io: CliIo,
  program: string,
  interrupt: AbortSignal = new AbortController().signal,
): Promise<ExitCodeValue> {
  const reached: Reached = {};
  try {
    return await dispatch(parseCommandLine(argv, io.env), io, program, interrupt, reached);
  } catch (err) {
    const api = apiErrorMessage(err);
    if (api) {
      io.stderr.write(`${api}\n`);
      return ExitCode.Failed;
    }
    if (isUnreachable(err)) {
      io.stderr.write(`error: ${unreachableMessage(reached.server ?? 'the API server', err)}\n`);
      return ExitCode.Failed;
    }
    if (err instanceof CliError) {
      const hint = err instanceof UsageError ? `\nSee '${program} --help'.` : '';
      io.stderr.write(`error: ${err.message}${hint}\n`);
      return err.exitCode;
    }
    io.stderr.write(`error: ${describeClientError(err)}\n`);
    return ExitCode.Failed;
  }
}
