// Waiting for a controller of the bed to lead: the process has taken its leader-election
// Lease (virt-controller's, CDI's cdi-controller). One that exits meanwhile fails the wait
// at once, with its log's tail.
import * as k8s from '@kubernetes/client-node';
import { ExitedEarly, waitFor, type ManagedProcess } from '../../process.js';

export async function waitUntilLeading(
  what: string,
  proc: ManagedProcess,
  kc: k8s.KubeConfig,
  lease: { namespace: string; name: string },
  timeoutMs = 90_000,
): Promise<void> {
  const leases = kc.makeApiClient(k8s.CoordinationV1Api);
  await waitFor(
    `${what} to lead`,
    async () => {
      if (proc.hasExited()) throw new ExitedEarly(`${what} exited\n${proc.tail()}`);
      try {
        return Boolean((await leases.readNamespacedLease(lease)).spec?.holderIdentity);
      } catch {
        return false;
      }
    },
    timeoutMs,
    () => proc.tail(),
  );
}
