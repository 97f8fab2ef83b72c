// Shared by the install tests: where deploy/ and the chart are, the real helm, rendering
// and splitting manifests, `kubectl auth can-i` as someone else, and the real
// kube-controller-manager running only its ClusterRole aggregation controller (the bed
// has no controller-manager, and without it `edit` and `view` never gain our rules).
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { startProcess, waitFor, type ManagedProcess } from '../harness/process.js';
import { kubeconfigPath, kubectl } from '../harness/testbed.js';
import { toolPath } from '../harness/tools.js';

const execFileAsync = promisify(execFile);

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEPLOY_DIR = path.join(ROOT, 'deploy');
export const CHART_DIR = path.join(ROOT, 'charts', 'serverimage-operator');

/** What deploy/ installs the operator as. */
export const OPERATOR_NAMESPACE = 'serverimage-system';
export const OPERATOR_SA = 'serverimage-operator';
export const OPERATOR_USER = `system:serviceaccount:${OPERATOR_NAMESPACE}:${OPERATOR_SA}`;

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** Runs the real helm; throws with its stderr and stdout (where `helm lint` says what failed) on a non-zero exit. */
export async function helm(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(toolPath('helm'), args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr ?? e.message}${e.stdout ?? ''}`, {
      cause: err,
    });
  }
}

/** `helm template` of the chart into `namespace`, CRDs included, with `--set` values. */
export async function renderChart(
  release: string,
  namespace: string,
  set: string[] = [],
): Promise<Manifest[]> {
  const text = await helm([
    'template',
    release,
    CHART_DIR,
    '--namespace',
    namespace,
    '--include-crds',
    ...set.flatMap((s) => ['--set', s]),
  ]);
  return parseManifests(text);
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`bad YAML: ${doc.errors[0]!.message}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

export const toYamlStream = (manifests: Manifest[]) => manifests.map((m) => stringify(m)).join('---\n');

/** `kubectl apply` that must succeed; returns its stdout. */
export async function mustKubectl(args: string[], input?: string): Promise<string> {
  const result = await kubectl(args, input);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** Installs deploy/ as a user does (idempotent: other test files apply it too). */
export async function applyDeploy(): Promise<string> {
  const out = await mustKubectl(['apply', '-k', DEPLOY_DIR]);
  await mustKubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/serverimages.serverimage.io',
  ]);
  return out;
}

/**
 * `kubectl auth can-i VERB RESOURCE --as USER`: true for "yes", false for "no". Anything
 * else (a resource the server does not serve, an unreachable server) fails the test
 * instead of reading as "no".
 */
export async function canI(
  user: string,
  verb: string,
  resource: string,
  options: { namespace?: string; subresource?: string; allNamespaces?: boolean } = {},
): Promise<boolean> {
  const args = ['auth', 'can-i', verb, resource, `--as=${user}`];
  if (options.allNamespaces) args.push('--all-namespaces');
  else if (options.namespace) args.push('-n', options.namespace);
  if (options.subresource) args.push(`--subresource=${options.subresource}`);
  const result = await kubectl(args);
  // An unknown resource is asked about as typed and answered "no": that would make a
  // "may not" check pass for the wrong reason.
  if (result.stderr.includes("doesn't have a resource type"))
    throw new Error(`kubectl ${args.join(' ')}: ${result.stderr.trim()}`);
  const answer = result.stdout.trim();
  if (answer === 'yes' && result.code === 0) return true;
  if (answer === 'no' && result.code === 1) return false;
  throw new Error(`kubectl ${args.join(' ')}: exit ${result.code}, ${answer} ${result.stderr}`);
}

/**
 * The real kube-controller-manager with only the ClusterRole aggregation controller: it
 * fills `edit`, `view` and `admin` from the ClusterRoles labelled aggregate-to-*. Call it
 * after deploy/ is applied: it returns once `edit` has our rules.
 */
export async function startAggregationController(): Promise<ManagedProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-kcm-'));
  const kcm = startProcess(
    toolPath('kube-controller-manager'),
    [
      `--kubeconfig=${kubeconfigPath()}`,
      '--controllers=clusterrole-aggregation-controller',
      '--leader-elect=false',
      '--secure-port=0',
      `--cert-dir=${dir}`,
      '--v=1',
    ],
    path.join(dir, 'kube-controller-manager.log'),
  );
  await waitFor(
    'kube-controller-manager to aggregate ClusterRoles',
    async () => {
      if (kcm.child.exitCode !== null) throw new Error(`kube-controller-manager exited:\n${kcm.tail()}`);
      // The built-in edit role has no rules of its own: all come from aggregation.
      const edit = await kubectl(['get', 'clusterrole', 'edit', '-o', 'jsonpath={.rules}']);
      return edit.code === 0 && edit.stdout.includes('serverimages');
    },
    60_000,
    () => kcm.tail(),
  );
  return kcm;
}
