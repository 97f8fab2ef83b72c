// Starts a client-node informer that restarts a second after a failed watch (client-node's
// stops for good), until the returned stop() is called.
import type * as k8s from '@kubernetes/client-node';

export async function startWatching(
  informer: k8s.Informer<k8s.KubernetesObject>,
): Promise<() => Promise<void>> {
  let stopped = false;
  informer.on('error', () => {
    if (stopped) return;
    setTimeout(() => {
      if (!stopped) void informer.start().catch(() => undefined);
    }, 1000);
  });
  await informer.start();
  return async () => {
    stopped = true;
    await informer.stop();
  };
}
