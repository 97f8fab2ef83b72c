// What every cluster command gets: the output streams, the API client, the namespace
// resolved like kubectl, and the Ctrl-C signal that ends a --wait.
import type { CliIo } from '../io.js';
import type { ServerImageClient } from '../server-image-client.js';

export interface CommandContext {
  io: CliIo;
  client: ServerImageClient;
  namespace: string;
  interrupt: AbortSignal;
  /** The name the user typed us by ("serverimage" or "kubectl serverimage"), for hints. */
  program: string;
}
