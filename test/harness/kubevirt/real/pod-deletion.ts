// Deleting a Pod of the bed's own (the real node's virt-handler, the CSI driver, a Pod that
// fills a claim) and waiting until the API server no longer has it, so what it held (its
// volumes, the node's devices) is free for the next one.
import type * as k8s from '@kubernetes/client-node';
import { waitFor } from '../../process.js';

export async function deletePodAndWait(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
  timeoutMs: number,
): Promise<void> {
  await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
  await waitFor(
    `Pod ${namespace}/${name} gone`,
    () =>
      core.readNamespacedPod({ namespace, name }).then(
        () => false,
        () => true,
      ),
    timeoutMs,
  );
}
