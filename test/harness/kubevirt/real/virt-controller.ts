// KubeVirt's real virt-controller (v1.8.4, cmd/virt-controller) as a local process, with
// what virt-operator would have set up for it: the namespace `kubevirt`, a KubeVirt CR
// whose status.phase is set (virt-controller does nothing without one), the export CA
// (an EC key: the export controller asserts *ecdsa.PrivateKey) at the fixed path
// /etc/virt-controller/exportca, and its public half in the ConfigMap kubevirt-export-ca
// (what links.internal.cert is read from). The fixed path is given to the process only:
// it runs in a mount namespace of its own (`unshare --mount`) whose /etc is an overlay
// of the host's with that folder added; the host's /etc is untouched.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { freePort } from '../../ports.js';
import { startProcess, type ManagedProcess } from '../../process.js';
import { toolPath } from '../../tools.js';
import { isApiError } from '../api.js';
import { withEtcOverlay } from './etc-overlay.js';
import { waitUntilLeading } from './leader.js';

export const KUBEVIRT_NAMESPACE = 'kubevirt';
/**
 * The image names virt-controller writes into the Pods it makes; nothing pulls them here.
 * With a real node the exporter's is the image built here, as its containerd knows it.
 */
export const LAUNCHER_IMAGE = 'quay.io/kubevirt/virt-launcher:v1.8.4';
export const EXPORTER_IMAGE = 'quay.io/kubevirt/virt-exportserver:v1.8.4';

export interface VirtController {
  process: ManagedProcess;
  /** PEM of the export CA: what every export's links.internal.cert carries. */
  exportCaPem: string;
  stop(): Promise<void>;
}

/** An EC (P-256) self-signed CA, as virt-operator makes kubevirt-export-ca. */
function exportCa(dir: string): { certPem: string; keyPem: string } {
  mkdirSync(dir, { recursive: true });
  const key = path.join(dir, 'tls.key');
  const crt = path.join(dir, 'tls.crt');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  execFileSync('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    key,
    '-out',
    crt,
    '-days',
    '7',
    '-subj',
    '/CN=kubevirt-export-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { certPem: readFileSync(crt, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

async function ensure(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (!isApiError(err, 409)) throw err;
  }
}

/** The namespace, the KubeVirt CR (phase Deployed) and the CA ConfigMap. */
async function installKubevirtInstall(
  kc: k8s.KubeConfig,
  caPem: string,
  configuration: Record<string, unknown> = {},
): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  await ensure(() => core.createNamespace({ body: { metadata: { name: KUBEVIRT_NAMESPACE } } }));
  await ensure(() =>
    core.createNamespacedConfigMap({
      namespace: KUBEVIRT_NAMESPACE,
      body: { metadata: { name: 'kubevirt-export-ca' }, data: { 'ca-bundle': caPem } },
    }),
  );
  const kv = { group: 'kubevirt.io', version: 'v1', plural: 'kubevirts', namespace: KUBEVIRT_NAMESPACE };
  await ensure(() =>
    custom.createNamespacedCustomObject({
      ...kv,
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'KubeVirt',
        metadata: { name: 'kubevirt' },
        spec: { configuration: { developerConfiguration: { featureGates: [] }, ...configuration } },
      },
    }),
  );
  await custom.patchNamespacedCustomObjectStatus(
    // virt-operator also records the architecture it runs on, which virt-api's webhook gives
    // VMIs that name none (its validator refuses an empty one).
    { ...kv, name: 'kubevirt', body: { status: { phase: 'Deployed', defaultArchitecture: 'amd64' } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}

/** Starts virt-controller against the API server of `kubeconfigPath`; resolves once it leads. */
export async function startVirtController(options: {
  kc: k8s.KubeConfig;
  kubeconfigPath: string;
  dir: string;
  exporterImage?: string;
  /** The launcher image as the real node's containerd knows it (real VMs). */
  launcherImage?: string;
  /** The KubeVirt CR's spec.configuration (e.g. developerConfiguration.useEmulation). */
  configuration?: Record<string, unknown>;
}): Promise<VirtController> {
  const etc = path.join(options.dir, 'etc-overlay');
  const ca = exportCa(path.join(etc, 'upper/virt-controller/exportca'));
  await installKubevirtInstall(options.kc, ca.certPem, options.configuration);
  const port = await freePort();
  const run = withEtcOverlay(etc, toolPath('virt-controller'), [
    `--kubeconfig=${options.kubeconfigPath}`,
    '--listen=127.0.0.1',
    `--port=${port}`,
    `--launcher-image=${options.launcherImage ?? LAUNCHER_IMAGE}`,
    `--exporter-image=${options.exporterImage ?? EXPORTER_IMAGE}`,
    // The bed's machine is small: a few threads each.
    '--snapshot-controller-resync-period=1m',
  ]);
  const proc = startProcess(run.command, run.args, path.join(options.dir, 'virt-controller.log'));
  writeFileSync(path.join(options.dir, 'virt-controller.port'), String(port));
  // It takes the lease "virt-controller" in its namespace once its informers synced.
  await waitUntilLeading('virt-controller', proc, options.kc, {
    namespace: KUBEVIRT_NAMESPACE,
    name: 'virt-controller',
  });
  return { process: proc, exportCaPem: ca.certPem, stop: () => proc.stop() };
}
