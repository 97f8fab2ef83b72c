// The command line: `serverimage <command> [args] [flags]`, parsed with node:util
// parseArgs against the one table of flags (flags.ts), each command's own flags, -o
// choices and parse taken from the command table (command-table.ts). This file holds
// what a parsed command line is, and the checks every command shares.
import { COMMAND_NAMES, COMMAND_TABLE, type CommandName, isCommand } from './command-table.js';
import { UsageError } from './exit-codes.js';
import {
  CLUSTER_FLAGS,
  type ClusterOptions,
  DEFAULT_TIMEOUT,
  given,
  parseTimeout,
  readArgs,
} from './flags.js';

export type { CommandName } from './command-table.js';
export type { ClusterOptions } from './flags.js';
export { DEFAULT_TIMEOUT, REPOSITORY_ENV, parseProperty, parseTimeout } from './flags.js';

export interface CreateCommand {
  command: 'create';
  cluster: ClusterOptions;
  vm: string;
  name?: string;
  imageName?: string;
  properties: Record<string, string>;
  /** Repository as given, before {vm} is expanded; from SERVERIMAGE_REPOSITORY when no flag. */
  repository: string;
  tag?: string;
  credentials?: string;
  caSecret?: string;
  insecure: boolean;
  volumes: string[];
  deletionPolicy?: string;
  wait: boolean;
  timeoutMs: number;
  output?: 'json' | 'yaml';
}

/** Follows an existing ServerImage (made by kubectl apply, GitOps) as `create --wait` does. */
export interface WaitCommand {
  command: 'wait';
  cluster: ClusterOptions;
  name: string;
  timeoutMs: number;
  output?: 'json' | 'yaml';
}

export interface ListCommand {
  command: 'list';
  cluster: ClusterOptions;
  allNamespaces: boolean;
  output: 'table' | 'wide' | 'json' | 'yaml';
}

/** The images of one VM, newest first: a schedule's backups after rotation, and any made by hand. */
export interface BackupsCommand {
  command: 'backups';
  cluster: ClusterOptions;
  vm: string;
  output?: 'json' | 'yaml';
}

export interface DescribeCommand {
  command: 'describe';
  cluster: ClusterOptions;
  name: string;
  output?: 'json' | 'yaml';
}

export interface DeleteCommand {
  command: 'delete';
  cluster: ClusterOptions;
  name: string;
  wait: boolean;
  timeoutMs: number;
}

/** A new VirtualMachine from an image: a ServerImage, or a bare registry reference from any cluster. */
export interface RestoreCommand {
  command: 'restore';
  cluster: ClusterOptions;
  /** A ServerImage name, or host/repository[:tag|@digest] (it has a slash). */
  source: string;
  name: string;
  /** Where the ServerImage is (default: -n, where the VM is made). */
  fromNamespace?: string;
  as: 'datavolume' | 'containerdisk';
  storageClass?: string;
  newIdentity: boolean;
  runStrategy?: 'Halted' | 'Always';
  pullMethod: 'pod' | 'node';
  /** For a bare reference: Secrets in -n with the registry's credentials and CA. */
  credentials?: string;
  caSecret?: string;
  insecure: boolean;
  output?: 'yaml';
  /** An incremental backup is first turned into containerDisk images under this tag (default <tag>-disk). */
  materializeTag?: string;
}

/** An incremental backup turned into bootable containerDisk images, without a restore. */
export interface MaterializeCommand {
  command: 'materialize';
  cluster: ClusterOptions;
  /** A ServerImage name, or host/repository[:tag|@digest] (it has a slash). */
  source: string;
  fromNamespace?: string;
  /** Tag of the first volume's image (the others TAG-<volume>); default <tag>-disk. */
  tag?: string;
  credentials?: string;
  caSecret?: string;
  insecure: boolean;
}

export interface HelpCommand {
  command: 'help';
  topic?: CommandName;
}

export interface VersionCommand {
  command: 'version';
}

export type ParsedCommand =
  | CreateCommand
  | WaitCommand
  | ListCommand
  | BackupsCommand
  | DescribeCommand
  | DeleteCommand
  | RestoreCommand
  | MaterializeCommand
  | HelpCommand
  | VersionCommand;

const listed = (names: readonly string[]) => `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;

export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv = {}): ParsedCommand {
  const { values, positionals } = readArgs(argv);
  const [word, ...rest] = positionals;
  if (values.version) return { command: 'version' };
  if (word === 'help') {
    const topic = rest[0];
    if (topic !== undefined && !isCommand(topic)) throw new UsageError(`unknown command "${topic}"`);
    return { command: 'help', ...(topic ? { topic } : {}) };
  }
  if (word === undefined) {
    if (values.help) return { command: 'help' };
    throw new UsageError(`missing command: ${listed(COMMAND_NAMES)}`);
  }
  if (!isCommand(word)) throw new UsageError(`unknown command "${word}"`);
  if (values.help) return { command: 'help', topic: word };

  const spec = COMMAND_TABLE[word];
  const allowed = new Set<string>([...CLUSTER_FLAGS, ...spec.flags.map(([flag]) => flag)]);
  for (const flag of Object.keys(values)) {
    if (!allowed.has(flag)) throw new UsageError(`${word} does not take --${flag}`);
  }
  if (values.output !== undefined && !spec.outputs.includes(values.output)) {
    throw new UsageError(`${word} -o takes ${spec.outputs.join(', ')}; got "${values.output}"`);
  }
  const cluster: ClusterOptions = {
    ...given('kubeconfig', values.kubeconfig),
    ...given('context', values.context),
    ...given('namespace', values.namespace),
  };
  const timeoutMs = parseTimeout(values.timeout ?? DEFAULT_TIMEOUT);
  return spec.parse({ values, rest, cluster, timeoutMs, env });
}
