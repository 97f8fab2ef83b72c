// Installs KubeVirt's, CDI's and the CSI snapshotter's real CRDs (real-crds.ts) with a
// server-side apply (the VirtualMachine CRD is too big for a client-side apply's
// last-applied annotation) and waits until the API server reports every one Established.
// Applying the same definitions again changes nothing.
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../../process.js';
import { generatedCrds, withExportV1 } from './real-crds.js';

export interface InstallOptions {
  /** Add export.kubevirt.io/v1 as KubeVirt 1.9 has it (default true). */
  exportV1?: boolean;
  /** Every CRD of KubeVirt and CDI, as the real virt-controller needs (default false). */
  all?: boolean;
  timeoutMs?: number;
}

function established(crd: k8s.V1CustomResourceDefinition): boolean {
  return (crd.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
}

/** The CRDs the bed installs: the generated ones, with or without export v1. */
export function kubevirtCrds(exportV1 = true, all = false): k8s.V1CustomResourceDefinition[] {
  return generatedCrds(all).map((crd) => (exportV1 ? withExportV1(crd) : crd));
}

/**
 * A server-side apply of raw JSON. Not through client-node's typed clients: their models
 * serialise only the fields they know by their TypeScript names, and would drop the
 * generated schemas' x-kubernetes-* keys.
 */
async function serverSideApply(kubeConfig: k8s.KubeConfig, crd: k8s.V1CustomResourceDefinition): Promise<void> {
  const name = crd.metadata!.name!;
  const url = new URL(
    `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=serverimage-testbed&force=true`,
    kubeConfig.getCurrentCluster()!.server,
  );
  const options: https.RequestOptions = {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/apply-patch+yaml', Accept: 'application/json' },
  };
  await kubeConfig.applyToHTTPSOptions(options);
  const body = JSON.stringify({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', ...crd });
  await new Promise<void>((resolve, reject) => {
    const req = https.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode === 200 || res.statusCode === 201) resolve();
        else reject(new Error(`apply CRD ${name}: HTTP ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 2000)}`));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function installKubevirtCrds(
  kubeConfig: k8s.KubeConfig,
  options: InstallOptions = {},
): Promise<void> {
  const api = kubeConfig.makeApiClient(k8s.ApiextensionsV1Api);
  const crds = kubevirtCrds(options.exportV1 ?? true, options.all ?? false);
  for (const crd of crds) await serverSideApply(kubeConfig, crd);
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    await waitFor(
      `CRD ${name} Established`,
      async () => established(await api.readCustomResourceDefinition({ name })),
      options.timeoutMs ?? 30_000,
    );
  }
}
