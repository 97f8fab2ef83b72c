// materialize (SERVERIMAGE | REGISTRY_REFERENCE) [--tag TAG]: an incremental (chunked)
// backup turned into bootable containerDisk images in its repository, from the registry
// alone (the VM is not read again), without restoring anything. The same step a restore
// of such a backup runs first (restore/materialize-chunked.ts).
import type { MaterializeCommand } from '../args.js';
import { CliError, ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { materializeChunkedVolumes } from '../restore/materialize-chunked.js';
import type { CommandContext } from './context.js';
import { resolveSource } from './restore.js';

export async function materializeCommand(
  command: MaterializeCommand,
  ctx: CommandContext,
): Promise<ExitCodeValue> {
  const source = await resolveSource(command, ctx);
  const { materialized } = await materializeChunkedVolumes(
    source.document,
    source.access,
    command.tag,
    (line) => ctx.io.stderr.write(line),
  );
  if (materialized.length === 0) {
    throw new CliError(
      `${source.origin} is not an incremental backup: its images are containerDisks already`,
    );
  }
  for (const m of materialized) ctx.io.stdout.write(`${m.volume}: ${m.to} (from ${m.from})\n`);
  return ExitCode.Ok;
}
