// The commands, one entry each: what --help says of it, the flags it takes (declared in
// flags.ts, described here for this command), its -o choices, how its argv becomes a
// typed command, and what runs it. Adding a command is adding an entry (and its file in
// commands/); parsing (args.ts), help (usage.ts) and dispatch (run.ts) read this table.
import type {
  BackupsCommand,
  CreateCommand,
  DeleteCommand,
  DescribeCommand,
  ListCommand,
  MaterializeCommand,
  ParsedCommand,
  RestoreCommand,
  WaitCommand,
} from './args.js';
import { backupsCommand } from './commands/backups.js';
import type { CommandContext } from './commands/context.js';
import { createCommand } from './commands/create.js';
import { deleteCommand } from './commands/delete.js';
import { describeCommand } from './commands/describe.js';
import { listCommand } from './commands/list.js';
import { materializeCommand } from './commands/materialize.js';
import { restoreCommand } from './commands/restore.js';
import { waitCommand } from './commands/wait.js';
import { UsageError, type ExitCodeValue } from './exit-codes.js';
import {
  type ClusterOptions,
  type FlagName,
  type FlagValues,
  REPOSITORY_ENV,
  given,
  oneOf,
  onePositional,
  parseProperty,
} from './flags.js';

/** What a command's parse gets: its flags' values, its positionals, and the shared ones read already. */
export interface ParseInput {
  values: FlagValues;
  rest: string[];
  cluster: ClusterOptions;
  timeoutMs: number;
  env: NodeJS.ProcessEnv;
}

export interface CommandSpec<C extends ParsedCommand> {
  /** The overview's line: `create VM --repository REPO [--wait] [flags]`, then what it does. */
  synopsis: string;
  summary: string;
  /** The command's own help: its usage line (after the program name) and what it does. */
  usage: string;
  description?: string;
  /**
   * The flags it takes besides the cluster ones, with what each means here, in help order
   * (and, rarely, another name for its value, e.g. NEW_VM).
   */
  flags: [FlagName, string, string?][];
  /** -o choices (the first one of list's is its default table, not a flag value). */
  outputs: readonly string[];
  /** Whether its help lists the exit codes (commands that can wait or fail on the server). */
  exitCodes: boolean;
  parse(input: ParseInput): C;
  run(command: C, ctx: CommandContext): Promise<ExitCodeValue>;
}

const output = <T extends string>(values: FlagValues) => given('output', values.output as T | undefined);

const create: CommandSpec<CreateCommand> = {
  synopsis: 'create VM --repository REPO [--wait] [flags]',
  summary: 'image a VirtualMachine',
  usage: 'create VM [flags]',
  description: `Creates a ServerImage of the VirtualMachine VM through the API server: the operator
snapshots the VM and pushes each disk as a containerDisk image. The API server checks
the request; when it refuses, its message (naming the field) is printed and the exit
code is 1.`,
  flags: [
    ['name', 'ServerImage name (default: VM-yyyymmdd-hhmmss, UTC)'],
    ['image-name', "human image name (Nova's name; default: the ServerImage name)"],
    ['property', "image property, repeatable (Nova's metadata; manifest annotations)"],
    [
      'repository',
      'OCI repository, e.g. registry.example.com/vm-images/{vm}; "{vm}" is\nreplaced by the VM name. Default: $SERVERIMAGE_REPOSITORY (same form).',
    ],
    ['tag', 'tag of the boot volume image (default: the ServerImage name)'],
    ['credentials', 'Secret with registry credentials (dockerconfigjson or basic-auth)'],
    ['ca-secret', "Secret with the registry's CA bundle under the key ca.crt"],
    ['insecure', 'plain HTTP to the registry (labs only)'],
    ['volume', 'volume to image, repeatable (default: every snapshottable volume)'],
    ['deletion-policy', 'Retain (default) or Delete the tags when the ServerImage is deleted'],
    ['wait', 'follow the ServerImage until Active or Error, with progress'],
    ['timeout', 'how long --wait waits, e.g. 90s, 30m, 2h (default: 1h)'],
    ['output', 'print the ServerImage (with --wait: as it ended; progress goes to stderr)'],
  ],
  outputs: ['json', 'yaml'],
  exitCodes: true,
  parse: ({ values, rest, cluster, timeoutMs, env }) => {
    const vm = onePositional('create', rest, 'a VirtualMachine name');
    const repository = values.repository ?? env[REPOSITORY_ENV];
    if (!repository) {
      throw new UsageError(`create needs --repository REPO (or ${REPOSITORY_ENV} in the environment)`);
    }
    return {
      command: 'create',
      cluster,
      vm,
      ...given('name', values.name),
      ...given('imageName', values['image-name']),
      properties: Object.fromEntries((values.property ?? []).map(parseProperty)),
      repository,
      ...given('tag', values.tag),
      ...given('credentials', values.credentials),
      ...given('caSecret', values['ca-secret']),
      insecure: values.insecure ?? false,
      volumes: values.volume ?? [],
      ...given('deletionPolicy', values['deletion-policy']),
      wait: values.wait ?? false,
      timeoutMs,
      ...output<'json' | 'yaml'>(values),
    };
  },
  run: createCommand,
};

const wait: CommandSpec<WaitCommand> = {
  synopsis: 'wait NAME [--timeout D]',
  summary: 'follow an existing ServerImage to Active or Error',
  usage: 'wait NAME [flags]',
  description: `Follows the ServerImage NAME, made by any means (kubectl apply, a GitOps tool, create
without --wait), until it is Active or Error, with the same progress and exit codes as
create --wait. An image that is already Active or Error is reported at once. A name
that does not exist is the API server's NotFound (exit 1).`,
  flags: [
    ['timeout', 'how long to wait, e.g. 90s, 30m, 2h (default: 1h)'],
    ['output', 'print the ServerImage as it ended (progress goes to stderr)'],
  ],
  outputs: ['json', 'yaml'],
  exitCodes: true,
  parse: ({ values, rest, cluster, timeoutMs }) => ({
    command: 'wait',
    cluster,
    name: onePositional('wait', rest, 'a ServerImage name'),
    timeoutMs,
    ...output<'json' | 'yaml'>(values),
  }),
  run: waitCommand,
};

const list: CommandSpec<ListCommand> = {
  synopsis: 'list [-n NS | -A] [-o wide|json|yaml]',
  summary: 'list ServerImages (and the schedule that made each)',
  usage: 'list [flags]',
  flags: [
    ['all-namespaces', 'list in every namespace'],
    ['output', ''],
  ],
  outputs: ['wide', 'json', 'yaml'],
  exitCodes: false,
  parse: ({ values, rest, cluster }) => {
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
  },
  run: listCommand,
};

const backups: CommandSpec<BackupsCommand> = {
  synopsis: 'backups VM [-o json|yaml]',
  summary: "a VM's images, newest first",
  usage: 'backups VM [flags]',
  description: `Lists the ServerImages of the VirtualMachine VM, newest first: the backups its
ServerImageSchedules made (by due time) and any made by hand (by creation time), with
the schedule, backup type, phase and pushed image of each.`,
  flags: [['output', 'print the objects instead']],
  outputs: ['json', 'yaml'],
  exitCodes: false,
  parse: ({ values, rest, cluster }) => ({
    command: 'backups',
    cluster,
    vm: onePositional('backups', rest, 'a VirtualMachine name'),
    ...output<'json' | 'yaml'>(values),
  }),
  run: backupsCommand,
};

const describe: CommandSpec<DescribeCommand> = {
  synopsis: 'describe NAME [-o json|yaml]',
  summary: 'phase, conditions, images, events',
  usage: 'describe NAME [flags]',
  description: `Shows the phase, progress, conditions, pushed images, snapshot indications and the
recent Events of a ServerImage.`,
  flags: [['output', 'print the object instead']],
  outputs: ['json', 'yaml'],
  exitCodes: false,
  parse: ({ values, rest, cluster }) => ({
    command: 'describe',
    cluster,
    name: onePositional('describe', rest, 'a ServerImage name'),
    ...output<'json' | 'yaml'>(values),
  }),
  run: describeCommand,
};

const del: CommandSpec<DeleteCommand> = {
  synopsis: 'delete NAME [--wait]',
  summary: 'delete (the deletion policy decides about the tags)',
  usage: 'delete NAME [flags]',
  description: `Deletes a ServerImage. Its deletionPolicy decides whether the pushed tags are deleted
from the registry (Delete) or kept (Retain).`,
  flags: [
    ['wait', 'wait until the operator has finished and the object is gone'],
    ['timeout', 'how long --wait waits (default: 1h)'],
  ],
  outputs: [],
  exitCodes: true,
  parse: ({ values, rest, cluster, timeoutMs }) => ({
    command: 'delete',
    cluster,
    name: onePositional('delete', rest, 'a ServerImage name'),
    wait: values.wait ?? false,
    timeoutMs,
  }),
  run: deleteCommand,
};

const restore: CommandSpec<RestoreCommand> = {
  synopsis: 'restore (IMAGE | REFERENCE) --name VM [flags]',
  summary: 'a new VirtualMachine from an image',
  usage: 'restore (SERVERIMAGE | REGISTRY_REFERENCE) --name NEW_VM [flags]',
  description: `Makes a new VirtualMachine NEW_VM in -n NAMESPACE from an image: its definition as it was
imaged (stored in the registry beside the boot image), its disks from the registry by
digest. SERVERIMAGE is an Active ServerImage (its registry credentials and CA are copied
for CDI); REGISTRY_REFERENCE is host/repository:tag or @sha256:... of a boot image, from
any cluster, read with --credentials / --ca-secret / --insecure. A bad reference (no such
tag, no VM definition, credentials refused) is one line and exit 1; nothing is created.
An incremental backup (format.layout chunked) is first materialized: its chunks are read
back, checked and pushed as a containerDisk image beside it (tag --materialize-tag, default
<tag>-disk), which CDI then imports; the VM is not read again.`,
  flags: [
    ['name', 'name of the new VirtualMachine (required)', 'NEW_VM'],
    ['from-namespace', 'namespace of the ServerImage (default: -n)'],
    [
      'as',
      'datavolume (default): dataVolumeTemplates CDI imports from the\nregistry; containerdisk: an ephemeral VM booting the images',
    ],
    ['storage-class', "storage class of the DataVolumes (default: the cluster's)"],
    ['new-identity', 'clear MAC addresses and the firmware UUID (restoring beside the original)'],
    ['run-strategy', '(default: as imaged)'],
    [
      'pull-method',
      "CDI's pull method (default pod); node pulls through the node's\ncontainer runtime, with the node's registry credentials and CAs",
    ],
    [
      'credentials',
      '(reference only) Secret in -n with registry credentials\n(dockerconfigjson or basic-auth)',
    ],
    ['ca-secret', "(reference only) Secret in -n with the registry's CA under ca.crt"],
    ['insecure', '(reference only) plain HTTP to the registry (labs only)'],
    ['output', 'print the manifests instead of creating them'],
    [
      'materialize-tag',
      'tag of the containerDisk image an incremental backup is turned\ninto first (default <tag>-disk; other volumes TAG-<volume>)',
    ],
  ],
  outputs: ['yaml'],
  exitCodes: true,
  parse: ({ values, rest, cluster }) => {
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
      ...given('fromNamespace', values['from-namespace']),
      as: oneOf('as', values.as, ['datavolume', 'containerdisk'] as const) ?? 'datavolume',
      ...given('storageClass', values['storage-class']),
      newIdentity: values['new-identity'] ?? false,
      ...given('runStrategy', runStrategy),
      pullMethod: oneOf('pull-method', values['pull-method'], ['pod', 'node'] as const) ?? 'pod',
      ...given('credentials', values.credentials),
      ...given('caSecret', values['ca-secret']),
      insecure: values.insecure ?? false,
      ...(values.output !== undefined ? { output: 'yaml' as const } : {}),
      ...given('materializeTag', values['materialize-tag']),
    };
  },
  run: restoreCommand,
};

const materialize: CommandSpec<MaterializeCommand> = {
  synopsis: 'materialize (IMAGE | REFERENCE) [flags]',
  summary: 'an incremental backup as bootable containerDisk images',
  usage: 'materialize (SERVERIMAGE | REGISTRY_REFERENCE) [flags]',
  description: `Turns an incremental backup (format.layout chunked) into bootable containerDisk images
in its own repository: the chunks are read back from the registry, checked against their
recorded sha256 and the disk's, and pushed as a containerDisk image per volume (the VM is
not read again). Prints each image's reference. restore does this on its own first.`,
  flags: [
    ['tag', "tag of the first volume's image (default <tag>-disk; other volumes TAG-<volume>)"],
    ['from-namespace', 'namespace of the ServerImage (default: -n)'],
    ['credentials', '(reference only) Secret in -n with registry credentials'],
    ['ca-secret', "(reference only) Secret in -n with the registry's CA under ca.crt"],
    ['insecure', '(reference only) plain HTTP to the registry (labs only)'],
  ],
  outputs: [],
  exitCodes: true,
  parse: ({ values, rest, cluster }) => {
    const source = onePositional('materialize', rest, 'a ServerImage name or a registry reference');
    const bare = source.includes('/');
    if (!bare && (values.credentials !== undefined || values['ca-secret'] !== undefined || values.insecure)) {
      throw new UsageError(
        'materialize of a ServerImage uses its own registry access; --credentials, --ca-secret and --insecure are for a registry reference',
      );
    }
    return {
      command: 'materialize',
      cluster,
      source,
      ...given('fromNamespace', values['from-namespace']),
      ...given('tag', values.tag),
      ...given('credentials', values.credentials),
      ...given('caSecret', values['ca-secret']),
      insecure: values.insecure ?? false,
    };
  },
  run: materializeCommand,
};

/** In the order the overview lists them. */
export const COMMAND_TABLE = { create, wait, list, backups, describe, delete: del, restore, materialize };

export type CommandName = keyof typeof COMMAND_TABLE;

export const COMMAND_NAMES = Object.keys(COMMAND_TABLE) as CommandName[];

export function isCommand(word: string | undefined): word is CommandName {
  return Object.hasOwn(COMMAND_TABLE, word ?? '');
}
