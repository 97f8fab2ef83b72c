// CDI's real controller (v1.65.0, cmd/cdi-controller) as a local process, with what
// cdi-operator would have set up for it: the namespace `cdi`, the CDI CR (status.phase
// Deployed), the CDIConfig `config` (owned by the CDI CR, as the controller makes it), and
// the token signing key pair at the fixed path /var/run/cdi/token/keys (the operator's
// Secret cdi-api-signing-key, mounted). That path is given to the process only: it runs in a
// mount namespace of its own whose /run is an overlay of the host's with the keys added.
// Its importer Pods run CDI's importer image built here (build-images.sh cdi-importer) on
// the real node. Fixed by CDI, not configurable: its metrics listen on :8443 and it writes
// /tmp/ready, so one such controller runs on the machine at a time: a second bed waits for
// the port (another checkout's test file may hold it).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startProcess, waitFor, type ManagedProcess } from '../../process.js';
import { toolPath } from '../../tools.js';
import { isApiError } from '../api.js';
import { waitUntilLeading } from './leader.js';

export const CDI_NAMESPACE = 'cdi';
const CDI = { group: 'cdi.kubevirt.io', version: 'v1beta1' };

export interface CdiController {
  process: ManagedProcess;
  /**
   * What a cluster's admin gives the StorageProfile of a provisioner CDI does not know (it
   * knows none of the bed's): the access and volume modes of a claim a DataVolume's
   * `storage` names none of. Waits for the controller to make the profile.
   */
  storageProfile(storageClass: string, claimPropertySets: Array<Record<string, unknown>>): Promise<void>;
  /** Lets CDI's importers read `host` (host:port, as in a registry URL) over plain HTTP or unverified TLS. */
  insecureRegistry(host: string): Promise<void>;
  stop(): Promise<void>;
}

async function ensure(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (!isApiError(err, 409)) throw err;
  }
}

/** The namespace, the CDI CR (Deployed) and the CDIConfig, as cdi-operator leaves them. */
async function installCdi(kc: k8s.KubeConfig): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  await ensure(() => core.createNamespace({ body: { metadata: { name: CDI_NAMESPACE } } }));
  await ensure(() =>
    custom.createClusterCustomObject({
      ...CDI,
      plural: 'cdis',
      body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'CDI', metadata: { name: 'cdi' }, spec: {} },
    }),
  );
  const cr = (await custom.getClusterCustomObject({ ...CDI, plural: 'cdis', name: 'cdi' })) as {
    metadata: { uid: string };
  };
  // CDI's CRDs have no status subresource: the status is written with the object.
  await custom.patchClusterCustomObject(
    { ...CDI, plural: 'cdis', name: 'cdi', body: { status: { phase: 'Deployed' } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await ensure(() =>
    custom.createClusterCustomObject({
      ...CDI,
      plural: 'cdiconfigs',
      body: {
        apiVersion: 'cdi.kubevirt.io/v1beta1',
        kind: 'CDIConfig',
        metadata: {
          name: 'config',
          ownerReferences: [
            { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'CDI', name: 'cdi', uid: cr.metadata.uid },
          ],
        },
        spec: {},
      },
    }),
  );
}

/** CDI's metrics port, fixed in cmd/cdi-controller (manager.Options' Metrics.BindAddress). */
const METRICS_PORT = 8443;

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });

/** Starts cdi-controller against the API server of `kubeconfigPath`; resolves once it leads. */
export async function startCdiController(options: {
  kc: k8s.KubeConfig;
  kubeconfigPath: string;
  dir: string;
  /** CDI's importer image as the real node's containerd knows it. */
  importerImage: string;
}): Promise<CdiController> {
  await waitFor(
    `port ${METRICS_PORT} free for cdi-controller (another bed's?)`,
    () => portFree(METRICS_PORT),
    300_000,
  );
  await installCdi(options.kc);
  const run = path.join(options.dir, 'cdi-run-overlay');
  const keys = path.join(run, 'upper/cdi/token/keys');
  mkdirSync(keys, { recursive: true });
  mkdirSync(path.join(run, 'work'), { recursive: true });
  execFileSync('openssl', ['genrsa', '-out', path.join(keys, 'id_rsa'), '2048'], { stdio: 'ignore' });
  execFileSync(
    'openssl',
    ['rsa', '-in', path.join(keys, 'id_rsa'), '-pubout', '-out', path.join(keys, 'id_rsa.pub')],
    {
      stdio: 'ignore',
    },
  );
  const script = [
    `mount -t overlay overlay -o lowerdir=/run,upperdir=${run}/upper,workdir=${run}/work /run`,
    'exec "$0" "$@"',
  ].join(' && ');
  const images = { IMPORTER_IMAGE: options.importerImage };
  // The cloner, upload server and populator images: the operator's names (nothing here
  // clones or uploads, so no node needs them).
  const env = {
    ...process.env,
    KUBECONFIG: options.kubeconfigPath,
    ...images,
    CLONER_IMAGE: 'quay.io/kubevirt/cdi-cloner:v1.65.0',
    UPLOADSERVER_IMAGE: 'quay.io/kubevirt/cdi-uploadserver:v1.65.0',
    OVIRT_POPULATOR_IMAGE: 'quay.io/kubevirt/cdi-importer:v1.65.0',
    UPLOADPROXY_SERVICE: 'cdi-uploadproxy',
    // The importer image is only in the node's containerd (imported, not in a registry).
    PULL_POLICY: 'IfNotPresent',
    INSTALLER_PART_OF_LABEL: 'serverimage-testbed',
    INSTALLER_VERSION_LABEL: 'v1.65.0',
  };
  const proc = startProcess(
    'unshare',
    [
      '--mount',
      '--propagation=private',
      'sh',
      '-c',
      script,
      toolPath('cdi-controller'),
      `--kubeconfig=${options.kubeconfigPath}`,
      '-v=2',
    ],
    path.join(options.dir, 'cdi-controller.log'),
    env,
  );
  await waitUntilLeading('cdi-controller', proc, options.kc, {
    namespace: CDI_NAMESPACE,
    name: 'cdi-controller-leader-election-helper',
  });
  const custom = options.kc.makeApiClient(k8s.CustomObjectsApi);
  return {
    process: proc,
    async storageProfile(storageClass, claimPropertySets) {
      const profile = { ...CDI, plural: 'storageprofiles', name: storageClass };
      await waitFor(
        `CDI's StorageProfile ${storageClass}`,
        () =>
          custom.getClusterCustomObject(profile).then(
            () => true,
            () => false,
          ),
        60_000,
        () => proc.tail(),
      );
      await custom.patchClusterCustomObject(
        { ...profile, body: { spec: { claimPropertySets } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    },
    async insecureRegistry(host) {
      const config = (await custom.getClusterCustomObject({
        ...CDI,
        plural: 'cdiconfigs',
        name: 'config',
      })) as {
        spec?: { insecureRegistries?: string[] };
      };
      const hosts = config.spec?.insecureRegistries ?? [];
      if (hosts.includes(host)) return;
      await custom.patchClusterCustomObject(
        {
          ...CDI,
          plural: 'cdiconfigs',
          name: 'config',
          body: { spec: { insecureRegistries: [...hosts, host] } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    },
    stop: () => proc.stop(),
  };
}
