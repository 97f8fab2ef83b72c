// Finds the binaries of the test bed. Order, as envtest does: TEST_ASSET_<NAME>,
// then $KUBEBUILDER_ASSETS/<name>, then /usr/local/kubebuilder/bin/<name>; after
// those, the cache that tools/build-tools.sh fills from the Go module proxy.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ToolName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'registry'
  | 'crane'
  | 'helm'
  | 'kubevirt-crds'
  | 'virt-exportserver'
  | 'virt-controller'
  | 'snapshot-controller'
  | 'cdi-importer'
  // The real-CDI bed's controller (built only when named).
  | 'cdi-controller'
  | 'qemu-img'
  | 'kubelet'
  | 'kube-proxy'
  | 'coredns'
  // Built only when named: the pause image's program, and the bench-only peers.
  | 'pause'
  | 'kopia'
  | 'restic';

const buildScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tools', 'build-tools.sh');
const built = new Map<ToolName, string>();

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

/**
 * Path of a test-bed binary; builds it (only it: the demo needs five of the tools) once
 * if it is nowhere to be found. The script returns at once for a tool already built.
 */
export function toolPath(name: ToolName): string {
  // envtest's own lookup covers only the control plane binaries (and kubectl).
  if (name === 'etcd' || name === 'kube-apiserver' || name === 'kubectl') {
    const found = envtestCandidates(name).find(executable);
    if (found) return found;
  }
  let bin = built.get(name);
  if (!bin) {
    bin = execFileSync('bash', [buildScript, name], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    built.set(name, bin);
  }
  return path.join(bin, name);
}
