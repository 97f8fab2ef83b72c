// Finds the binaries of the test bed. Order, as envtest does: TEST_ASSET_<NAME>,
// then $KUBEBUILDER_ASSETS/<name>, then /usr/local/kubebuilder/bin/<name>; after
// those, the cache that tools/build-tools.sh fills from the Go module proxy.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ToolName =
  'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kubectl' | 'registry' | 'crane' | 'helm';

const buildScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tools', 'build-tools.sh');
let builtBin: string | undefined;

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function envtestCandidates(name: ToolName): string[] {
  const envName = `TEST_ASSET_${name.toUpperCase().replace(/-/g, '_')}`;
  return [
    process.env[envName],
    process.env.KUBEBUILDER_ASSETS && path.join(process.env.KUBEBUILDER_ASSETS, name),
    path.join('/usr/local/kubebuilder/bin', name),
  ].filter((p): p is string => Boolean(p));
}

/** Path of a test-bed binary; builds the pinned set once if it is nowhere to be found. */
export function toolPath(name: ToolName): string {
  // envtest's own lookup covers only the control plane binaries (and kubectl).
  if (name === 'etcd' || name === 'kube-apiserver' || name === 'kubectl') {
    const found = envtestCandidates(name).find(executable);
    if (found) return found;
  }
  builtBin ??= execFileSync('bash', [buildScript], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return path.join(builtBin, name);
}
