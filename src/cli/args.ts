// The command line: `serverimage <command> [args] [flags]`, parsed with node:util
// parseArgs (no dependency: five commands and a dozen flags do not need one). Only the
// shape is checked here; what the API schema allows (property keys, repository grammar,
// deletion policy) is left to the API server, so its own message names the field.
import { parseArgs } from 'node:util';
import { duration } from '../config.js';
import { UsageError } from './exit-codes.js';

export const COMMANDS = ['create', 'wait', 'list', 'backups', 'describe', 'delete', 'restore'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** Where to talk to, as kubectl takes it. */
export interface ClusterOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

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
  | HelpCommand
  | VersionCommand;

export const REPOSITORY_ENV = 'SERVERIMAGE_REPOSITORY';
export const DEFAULT_TIMEOUT = '1h';

const OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  name: { type: 'string' },
  'image-name': { type: 'string' },
  property: { type: 'string', multiple: true },
  repository: { type: 'string' },
  tag: { type: 'string' },
  credentials: { type: 'string' },
  'ca-secret': { type: 'string' },
  insecure: { type: 'boolean' },
  volume: { type: 'string', multiple: true },
  'deletion-policy': { type: 'string' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  'from-namespace': { type: 'string' },
  as: { type: 'string' },
  'storage-class': { type: 'string' },
  'new-identity': { type: 'boolean' },
  'run-strategy': { type: 'string' },
  'pull-method': { type: 'string' },
} as const;

type OptionName = keyof typeof OPTIONS;

const CLUSTER_FLAGS: OptionName[] = ['kubeconfig', 'context', 'namespace', 'help'];

/** The flags each command takes besides the cluster ones. */
const COMMAND_FLAGS: Record<CommandName, OptionName[]> = {
  create: [
    'name',
    'image-name',
    'property',
    'repository',
    'tag',
    'credentials',
    'ca-secret',
    'insecure',
    'volume',
    'deletion-policy',
    'wait',
    'timeout',
    'output',
  ],
  wait: ['timeout', 'output'],
  list: ['all-namespaces', 'output'],
  backups: ['output'],
  describe: ['output'],
  delete: ['wait', 'timeout'],
  restore: [
    'name',
    'from-namespace',
    'as',
    'storage-class',
    'new-identity',
    'run-strategy',
    'pull-method',
    'credentials',
    'ca-secret',
    'insecure',
    'output',
  ],
};

const OUTPUTS: Record<CommandName, readonly string[]> = {
  create: ['json', 'yaml'],
  wait: ['json', 'yaml'],
  list: ['wide', 'json', 'yaml'],
  backups: ['json', 'yaml'],
  describe: ['json', 'yaml'],
  delete: [],
  restore: ['yaml'],
};

function isCommand(word: string | undefined): word is CommandName {
  return (COMMANDS as readonly string[]).includes(word ?? '');
}

export function parseTimeout(text: string): number {
  const parsed = duration.safeParse(text);
  if (!parsed.success || parsed.data <= 0) {
    throw new UsageError(`--timeout "${text}" is not a duration like 30s, 10m or 1h`);
  }
  return parsed.data;
}

/** `k=v` -> [k, v]; the value may hold further `=`. */
export function parseProperty(text: string): [string, string] {
  const at = text.indexOf('=');
  if (at < 0) throw new UsageError(`--property "${text}" is not key=value`);
  return [text.slice(0, at), text.slice(at + 1)];
}

function readArgs(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
}

function onePositional(command: CommandName, rest: string[], what: string): string {
  if (rest.length === 0) throw new UsageError(`${command} needs ${what}`);
  if (rest.length > 1) throw new UsageError(`${command} takes one ${what}, got: ${rest.join(' ')}`);
  return rest[0]!;
}

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
    throw new UsageError('missing command: create, wait, list, backups, describe, delete or restore');
  }
  if (!isCommand(word)) throw new UsageError(`unknown command "${word}"`);
  if (values.help) return { command: 'help', topic: word };

  const allowed = new Set<string>([...CLUSTER_FLAGS, ...COMMAND_FLAGS[word]]);
  for (const flag of Object.keys(values)) {
    if (!allowed.has(flag)) throw new UsageError(`${word} does not take --${flag}`);
  }
  if (values.output !== undefined && !OUTPUTS[word].includes(values.output)) {
    throw new UsageError(`${word} -o takes ${OUTPUTS[word].join(', ')}; got "${values.output}"`);
  }
  const cluster: ClusterOptions = {
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.context !== undefined ? { context: values.context } : {}),
    ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
  };
  const timeoutMs = parseTimeout(values.timeout ?? DEFAULT_TIMEOUT);

  switch (word) {
    case 'create': {
      const vm = onePositional(word, rest, 'a VirtualMachine name');
      const repository = values.repository ?? env[REPOSITORY_ENV];
      if (!repository) {
        throw new UsageError(`create needs --repository REPO (or ${REPOSITORY_ENV} in the environment)`);
      }
      return {
        command: 'create',
        cluster,
        vm,
        ...(values.name !== undefined ? { name: values.name } : {}),
        ...(values['image-name'] !== undefined ? { imageName: values['image-name'] } : {}),
        properties: Object.fromEntries((values.property ?? []).map(parseProperty)),
        repository,
        ...(values.tag !== undefined ? { tag: values.tag } : {}),
        ...(values.credentials !== undefined ? { credentials: values.credentials } : {}),
        ...(values['ca-secret'] !== undefined ? { caSecret: values['ca-secret'] } : {}),
        insecure: values.insecure ?? false,
        volumes: values.volume ?? [],
        ...(values['deletion-policy'] !== undefined ? { deletionPolicy: values['deletion-policy'] } : {}),
        wait: values.wait ?? false,
        timeoutMs,
        ...(values.output !== undefined ? { output: values.output as 'json' | 'yaml' } : {}),
      };
    }
    case 'wait':
      return {
        command: 'wait',
        cluster,
        name: onePositional(word, rest, 'a ServerImage name'),
        timeoutMs,
        ...(values.output !== undefined ? { output: values.output as 'json' | 'yaml' } : {}),
      };
    case 'list':
      if (rest.length > 0) throw new UsageError(`list takes no arguments, got: ${rest.join(' ')}`);
      if (values['all-namespaces'] && values.namespace !== undefined) {
        throw new UsageError('list takes -n NAMESPACE or -A, not both');
      }
      return {
        command: 'list',
        cluster,
        allNamespaces: values['all-namespaces'] ?? false,
        output: (values.output as ListCommand['output'] | undefined) ?? 'table',
      };
    case 'backups':
      return {
        command: 'backups',
        cluster,
        vm: onePositional(word, rest, 'a VirtualMachine name'),
        ...(values.output !== undefined ? { output: values.output as 'json' | 'yaml' } : {}),
      };
    case 'describe':
      return {
        command: 'describe',
        cluster,
        name: onePositional(word, rest, 'a ServerImage name'),
        ...(values.output !== undefined ? { output: values.output as 'json' | 'yaml' } : {}),
      };
    case 'restore':
      return parseRestore(rest, cluster, values);
    case 'delete':
      return {
        command: 'delete',
        cluster,
        name: onePositional(word, rest, 'a ServerImage name'),
        wait: values.wait ?? false,
        timeoutMs,
      };
  }
}

/** One of `allowed`, or a usage error naming the flag. */
function oneOf<T extends string>(
  flag: string,
  value: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} takes ${allowed.join(' or ')}; got "${value}"`);
  }
  return value as T;
}

function parseRestore(
  rest: string[],
  cluster: ClusterOptions,
  values: ReturnType<typeof readArgs>['values'],
): RestoreCommand {
  const source = onePositional('restore', rest, 'a ServerImage name or a registry reference');
  if (values.name === undefined) throw new UsageError('restore needs --name NEW_VM');
  const bare = source.includes('/');
  if (!bare && (values.credentials !== undefined || values['ca-secret'] !== undefined || values.insecure)) {
    throw new UsageError(
      'restore of a ServerImage uses its own registry access; --credentials, --ca-secret and --insecure are for a registry reference',
    );
  }
  if (bare && values['from-namespace'] !== undefined) {
    throw new UsageError('--from-namespace names where a ServerImage is; a registry reference has none');
  }
  const runStrategy = oneOf('run-strategy', values['run-strategy'], ['Halted', 'Always'] as const);
  return {
    command: 'restore',
    cluster,
    source,
    name: values.name,
    ...(values['from-namespace'] !== undefined ? { fromNamespace: values['from-namespace'] } : {}),
    as: oneOf('as', values.as, ['datavolume', 'containerdisk'] as const) ?? 'datavolume',
    ...(values['storage-class'] !== undefined ? { storageClass: values['storage-class'] } : {}),
    newIdentity: values['new-identity'] ?? false,
    ...(runStrategy ? { runStrategy } : {}),
    pullMethod: oneOf('pull-method', values['pull-method'], ['pod', 'node'] as const) ?? 'pod',
    ...(values.credentials !== undefined ? { credentials: values.credentials } : {}),
    ...(values['ca-secret'] !== undefined ? { caSecret: values['ca-secret'] } : {}),
    insecure: values.insecure ?? false,
    ...(values.output !== undefined ? { output: 'yaml' as const } : {}),
  };
}
