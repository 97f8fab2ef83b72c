// Finding the cluster the way kubectl does: --kubeconfig, else $KUBECONFIG, else
// ~/.kube/config, else the Pod's service account. When none of them is there, client-node
// quietly falls back to http://localhost:8080 and the first request fails with "HTTP
// protocol is not allowed when skipTLSVerify is not set"; we say instead that no
// configuration was found and how to give one.
import { KubeConfig } from '@kubernetes/client-node';

/** No usable cluster configuration: a setup problem, reported in one line (exit 2). */
export class ClusterConfigError extends Error {
  override name = 'ClusterConfigError';
}

export const NO_CLUSTER_CONFIG =
  'no cluster configuration found: give a kubeconfig file with --kubeconfig or the KUBECONFIG ' +
  'environment variable, put one at ~/.kube/config, or run inside a Pod with a service account';

/** client-node's fallback when it found nothing (config.js, loadFromDefault). */
function isFallback(kc: KubeConfig): boolean {
  const cluster = kc.getCurrentCluster();
  return (
    cluster?.name === 'cluster' &&
    cluster.server === 'http://localhost:8080' &&
    kc.getCurrentUser()?.name === 'user'
  );
}

function reason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  if (e?.code === 'ENOENT') return 'no such file';
  if (e?.code === 'EACCES') return 'permission denied';
  return typeof e?.message === 'string' ? e.message.split('\n')[0]! : String(err);
}

/** The kubeconfig from `file`, else the default places; throws ClusterConfigError when there is none. */
export function loadClusterConfig(file?: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (file) kc.loadFromFile(file);
    else kc.loadFromDefault();
  } catch (err) {
    const which = file ?? process.env.KUBECONFIG ?? '~/.kube/config';
    throw new ClusterConfigError(`cannot read kubeconfig ${which}: ${reason(err)}`);
  }
  if (!file && isFallback(kc)) throw new ClusterConfigError(NO_CLUSTER_CONFIG);
  if (context) {
    if (!kc.getContextObject(context))
      throw new ClusterConfigError(`context "${context}" is not in the kubeconfig`);
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) {
    throw new ClusterConfigError(
      `the kubeconfig ${file ?? process.env.KUBECONFIG ?? '~/.kube/config'} has no current context with a cluster`,
    );
  }
  return kc;
}

/** The API server's address of the current context, for messages. */
export function serverOf(kc: KubeConfig): string {
  return kc.getCurrentCluster()?.server ?? 'the API server';
}
