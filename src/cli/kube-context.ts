// kubeconfig, context and namespace the way kubectl picks them: --kubeconfig, else
// $KUBECONFIG (several files merged), else ~/.kube/config, else the in-cluster account;
// --context over the current context; -n over the context's namespace over "default".
import { KubeConfig } from '@kubernetes/client-node';
import type { ClusterOptions } from './args.js';
import { UsageError } from './exit-codes.js';

export interface KubeTarget {
  kubeConfig: KubeConfig;
  namespace: string;
}

export function loadKubeTarget(options: ClusterOptions): KubeTarget {
  const kubeConfig = new KubeConfig();
  if (options.kubeconfig) kubeConfig.loadFromFile(options.kubeconfig);
  else kubeConfig.loadFromDefault();
  if (options.context) {
    if (!kubeConfig.getContextObject(options.context)) {
      throw new UsageError(`context "${options.context}" is not in the kubeconfig`);
    }
    kubeConfig.setCurrentContext(options.context);
  }
  const contextNamespace = kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
  return { kubeConfig, namespace: options.namespace ?? contextNamespace ?? 'default' };
}
