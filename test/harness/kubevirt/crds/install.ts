// Installs the simulated KubeVirt CRDs (create or replace) and waits until the API
// server reports every one Established, so callers can use them at once.
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../../process.js';
import { kubevirtCrds } from './definitions.js';

function isStatus(err: unknown, code: number): boolean {
  return err instanceof k8s.ApiException && err.code === code;
}

function established(crd: k8s.V1CustomResourceDefinition): boolean {
  return (crd.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
}

export async function installKubevirtCrds(kubeConfig: k8s.KubeConfig, timeoutMs = 30_000): Promise<void> {
  const api = kubeConfig.makeApiClient(k8s.ApiextensionsV1Api);
  for (const crd of kubevirtCrds) {
    const name = crd.metadata!.name!;
    try {
      await api.createCustomResourceDefinition({ body: crd });
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      // Already there (another test file, a previous run): bring it to our definition.
      const current = await api.readCustomResourceDefinition({ name });
      await api.replaceCustomResourceDefinition({
        name,
        body: { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion } },
      });
    }
  }
  for (const crd of kubevirtCrds) {
    const name = crd.metadata!.name!;
    await waitFor(
      `CRD ${name} Established`,
      async () => established(await api.readCustomResourceDefinition({ name })),
      timeoutMs,
    );
  }
}
