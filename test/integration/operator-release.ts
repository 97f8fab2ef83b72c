// The operator installed the way users install it: `helm install` of charts/ into the bed,
// its image the one build-images.sh makes from the repo's Dockerfile, imported into the
// real node's containerd (no registry serves it: pullPolicy Never). Its Pods are pinned to
// the real node (nodeSelector): the kubelet stand-in's Node runs no containers.
import * as k8s from '@kubernetes/client-node';
import type { RealNode } from '../harness/node/real-node.js';
import { waitFor } from '../harness/process.js';
import { kubeConfig, kubeconfigPath } from '../harness/testbed.js';
import { CHART_DIR, helm } from './install-fixtures.js';

export interface OperatorRelease {
  release: string;
  namespace: string;
  /** The Lease the replicas elect a leader on (the release's full name). */
  lease: string;
  /** The release's operator Pods now. */
  pods(): Promise<k8s.V1Pod[]>;
  /** The Pod holding the Lease (its holderIdentity is the Pod's name). */
  leader(): Promise<string | undefined>;
  uninstall(): Promise<void>;
}

export async function installOperator(options: {
  release: string;
  namespace: string;
  node: RealNode;
  /** More `--set` values, e.g. `watchNamespaces={ns}`. */
  set?: string[];
}): Promise<OperatorRelease> {
  const { release, namespace, node } = options;
  await node.imported();
  const image = node.image('operator');
  const [repository, tag] = [image.slice(0, image.lastIndexOf(':')), image.slice(image.lastIndexOf(':') + 1)];
  const set = [
    `image.repository=${repository}`,
    `image.tag=${tag}`,
    'image.pullPolicy=Never',
    `nodeSelector.kubernetes\\.io/hostname=${node.nodeName}`,
    ...(options.set ?? []),
  ];
  // --wait: until the Deployment's replicas are Ready (their readiness probes, by the kubelet).
  await helm([
    'install',
    release,
    CHART_DIR,
    '--kubeconfig',
    kubeconfigPath(),
    '--namespace',
    namespace,
    '--create-namespace',
    '--wait',
    '--timeout',
    '3m',
    ...set.flatMap((s) => ['--set', s]),
  ]);
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  // The chart's full name (a release whose name holds the chart's is used as it is).
  const lease = release.includes('serverimage-operator') ? release : `${release}-serverimage-operator`;
  return {
    release,
    namespace,
    lease,
    pods: async () =>
      (
        await core.listNamespacedPod({
          namespace,
          labelSelector: `app.kubernetes.io/instance=${release},app.kubernetes.io/name=serverimage-operator`,
        })
      ).items.filter((p) => !p.metadata?.labels?.['helm.sh/chart-test']),
    async leader() {
      const held = await coordination.readNamespacedLease({ namespace, name: lease }).catch(() => undefined);
      return held?.spec?.holderIdentity ?? undefined;
    },
    async uninstall() {
      await helm([
        'uninstall',
        release,
        '--kubeconfig',
        kubeconfigPath(),
        '--namespace',
        namespace,
        '--wait',
      ]);
    },
  };
}

/** Waits until `fn` gives a value (polling every 200 ms). */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  let value: T | undefined;
  await waitFor(
    what,
    async () => {
      value = await fn();
      return value !== undefined;
    },
    timeoutMs,
  );
  return value!;
}
