// --help texts, made from the command table (command-table.ts) and the flag table
// (flags.ts). The program calls itself by the name it was started as, so that the
// kubectl plugin (kubectl-serverimage) reads "kubectl serverimage".
import path from 'node:path';
import { COMMAND_NAMES, COMMAND_TABLE, type CommandName } from './command-table.js';
import { flagLabel } from './flags.js';

export function programName(argv1: string | undefined): string {
  const base = path.basename(argv1 ?? 'serverimage').replace(/\.(js|ts)$/, '');
  return base === 'kubectl-serverimage' ? 'kubectl serverimage' : 'serverimage';
}

const CLUSTER_FLAGS = `Cluster flags (as kubectl):
  --kubeconfig FILE    kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)
  --context NAME       kubeconfig context (default: the current context)
  -n, --namespace NS   namespace (default: the context's namespace, else "default")`;

const EXIT_CODES = `Exit codes:
  0  done (for --wait and wait: the image is Active)
  1  the API server refused the request (NotFound too), or the image ended in phase Error
  2  bad command line
  3  the wait timed out (the ServerImage goes on; see describe)
  130 interrupted while waiting (the ServerImage goes on)`;

/** Where a flag's description starts; a longer flag puts it on the next line. */
const HELP_COLUMN = 28;
const SYNOPSIS_COLUMN = 48;

/** `  --name NAME               what it is`, continuation lines under the description. */
function flagLine(label: string, help: string): string {
  const left = `  ${label}`;
  if (!help) return left;
  const indent = ' '.repeat(HELP_COLUMN);
  const [first, ...more] = help.split('\n');
  const start = left.length <= HELP_COLUMN - 2 ? left.padEnd(HELP_COLUMN) : `${left}\n${indent}`;
  return [start + first, ...more.map((line) => indent + line)].join('\n');
}

function overview(p: string): string {
  const lines = COMMAND_NAMES.map((name) => {
    const { synopsis, summary } = COMMAND_TABLE[name];
    return `  ${p} ${synopsis.padEnd(SYNOPSIS_COLUMN)}${summary}`;
  });
  lines.push(`  ${p} ${'help COMMAND'.padEnd(SYNOPSIS_COLUMN)}flags of a command`);
  return `${p}: turn a KubeVirt VirtualMachine into bootable containerDisk images in an OCI registry
(OpenStack's "server image create", as a ServerImage resource of serverimage.io/v1alpha1).

Usage:
${lines.join('\n')}

${CLUSTER_FLAGS}

${EXIT_CODES}
`;
}

function commandHelp(p: string, name: CommandName): string {
  const spec = COMMAND_TABLE[name];
  const flags = spec.flags.map(([flag, help, value]) =>
    flagLine(flagLabel(flag, flag === 'output' ? spec.outputs.join('|') : value), help),
  );
  const parts = [`Usage: ${p} ${spec.usage}`];
  if (spec.description) parts.push(spec.description);
  parts.push(`Flags:\n${flags.join('\n')}`, CLUSTER_FLAGS);
  if (spec.exitCodes) parts.push(EXIT_CODES);
  return `${parts.join('\n\n')}\n`;
}

export function helpText(program: string, topic?: CommandName): string {
  return topic ? commandHelp(program, topic) : overview(program);
}
