// Every flag of the command line, declared once: its type, its short form and the name of
// its value. node:util parseArgs reads the argv from this table, and the --help texts
// print each flag from it (command-table.ts gives what a flag means to each command).
// Only the shape is checked here; what the API schema allows (property keys, repository
// grammar, deletion policy) is left to the API server, so its own message names the field.
import { parseArgs } from 'node:util';
import { duration } from '../config.js';
import { UsageError } from './exit-codes.js';

interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's name in --help, e.g. FILE for --kubeconfig FILE. */
  value?: string;
}

export const FLAGS = {
  kubeconfig: { type: 'string', value: 'FILE' },
  context: { type: 'string', value: 'NAME' },
  namespace: { type: 'string', short: 'n', value: 'NS' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  // Its value names are each command's -o choices (command-table.ts).
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  name: { type: 'string', value: 'NAME' },
  'image-name': { type: 'string', value: 'TEXT' },
  property: { type: 'string', multiple: true, value: 'KEY=VALUE' },
  repository: { type: 'string', value: 'REPO' },
  tag: { type: 'string', value: 'TAG' },
  credentials: { type: 'string', value: 'SECRET' },
  'ca-secret': { type: 'string', value: 'SECRET' },
  insecure: { type: 'boolean' },
  volume: { type: 'string', multiple: true, value: 'NAME' },
  'deletion-policy': { type: 'string', value: 'POLICY' },
  wait: { type: 'boolean' },
  timeout: { type: 'string', value: 'DURATION' },
  'from-namespace': { type: 'string', value: 'NS' },
  as: { type: 'string', value: 'datavolume|containerdisk' },
  'storage-class': { type: 'string', value: 'SC' },
  'new-identity': { type: 'boolean' },
  'run-strategy': { type: 'string', value: 'Halted|Always' },
  'pull-method': { type: 'string', value: 'pod|node' },
  'materialize-tag': { type: 'string', value: 'TAG' },
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;

/** The flags every cluster command takes besides its own. */
export const CLUSTER_FLAGS: FlagName[] = ['kubeconfig', 'context', 'namespace', 'help'];

/** Where to talk to, as kubectl takes it. */
export interface ClusterOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export const REPOSITORY_ENV = 'SERVERIMAGE_REPOSITORY';
export const DEFAULT_TIMEOUT = '1h';

/** The argv read against FLAGS: the values by flag name, and the positionals. */
export function readArgs(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
}

export type FlagValues = ReturnType<typeof readArgs>['values'];

/** The left column of a flag's line in --help: `-o, --output json|yaml`, `--name NAME`. */
export function flagLabel(name: FlagName, value?: string): string {
  const spec: FlagSpec = FLAGS[name];
  const shown = value ?? spec.value;
  return `${spec.short ? `-${spec.short}, ` : ''}--${name}${shown ? ` ${shown}` : ''}`;
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

export function onePositional(command: string, rest: string[], what: string): string {
  if (rest.length === 0) throw new UsageError(`${command} needs ${what}`);
  if (rest.length > 1) throw new UsageError(`${command} takes one ${what}, got: ${rest.join(' ')}`);
  return rest[0]!;
}

/** One of `allowed`, or a usage error naming the flag. */
export function oneOf<T extends string>(
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

/** `{ [key]: value }` when the flag was given, `{}` when not: optional fields stay absent. */
export function given<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value !== undefined ? { [key]: value } : {}) as { [P in K]?: V };
}
