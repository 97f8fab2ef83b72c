// kubeconfig, context and namespace the way kubectl picks them: --kubeconfig, else
// $KUBECONFIG (several files merged), else ~/.kube/config, else the in-cluster account;
// --context over the current context; -n over the context's namespace over "default".
import type { KubeConfig } from '@kubernetes/client-node';
import { ClusterConfigError, loadClusterConfig } from '../kube/cluster-config.js';
import type { ClusterOptions } from './args.js';
import { CliError, ExitCode } from './exit-codes.js';

export interface KubeTarget {
  kubeConfig: KubeConfig;
  namespace: string;
}

export function loadKubeTarget(options: ClusterOptions): KubeTarget {
  let kubeConfig: KubeConfig;
  try {
    kubeConfig = loadClusterConfig(options.kubeconfig, options.context);
  } catch (err) {
    if (err instanceof ClusterConfigError) throw new CliError(err.message, ExitCode.Usage);
    throw err;
  }
  const contextNamespace = kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
  return { kubeConfig, namespace: options.namespace ?? contextNamespace ?? 'default' };
}
