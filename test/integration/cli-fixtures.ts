// The CLI as users run it: a child process (`node --import tsx src/cli/main.ts`), its
// exit code and both output streams; and a kubeconfig whose context has a namespace.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { kubeconfigPath } from '../harness/testbed.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const node = path.join(root, 'node_modules/.bin/node');
const main = path.join(root, 'src/cli/main.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `--kubeconfig` of the bed unless `env.KUBECONFIG` is given instead. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const kubeconfig = env.KUBECONFIG === undefined ? ['--kubeconfig', kubeconfigPath()] : [];
  return new Promise((resolve) => {
    execFile(
      node,
      ['--import', 'tsx', main, ...args, ...kubeconfig],
      { cwd: root, env: { ...process.env, SERVERIMAGE_REPOSITORY: '', ...env }, maxBuffer: 1 << 26 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The bed's kubeconfig with `namespace` set on its current context, as `kubectl config set-context --current --namespace`. */
export function kubeconfigWithNamespace(namespace: string): string {
  const config = parse(readFileSync(kubeconfigPath(), 'utf8')) as {
    'current-context': string;
    contexts: { name: string; context: Record<string, unknown> }[];
  };
  const current = config.contexts.find((c) => c.name === config['current-context'])!;
  current.context.namespace = namespace;
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'cli-kubeconfig-')), 'config');
  writeFileSync(file, stringify(config));
  return file;
}
