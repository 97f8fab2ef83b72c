// The real CSI driver of the real node (beds with real VMs): kubernetes-csi's hostpath driver
// (hostpathplugin) with the real external-provisioner, external-snapshotter's csi-snapshotter
// and node-driver-registrar as sidecars, in one privileged Pod on the node, laid out as
// csi-driver-host-path's deploy/kubernetes-1.34/hostpath/csi-hostpath-plugin.yaml (its
// StatefulSet's Pod) with its CSIDriver, its VolumeSnapshotClass and a StorageClass of its
// driver `hostpath.csi.k8s.io`. The kubelet finds it through node-driver-registrar's socket
// in plugins_registry/ and calls its node service (NodePublishVolume: a bind mount of the
// volume's folder, propagated to the node through the Bidirectional mount of the kubelet's
// pods/ folder); the provisioner makes a claim's volume (a folder in the driver's state
// folder; from a VolumeSnapshot: its tarball unpacked); the snapshotter cuts a
// VolumeSnapshotContent's snapshot (a filesystem volume's: `tar czf` of its folder).
// Differences from the deploy, each for this bed:
// - a bare Pod bound to the node (no StatefulSet controller runs here) in kube-system;
// - the sidecars talk to the API server with a kubeconfig (a Secret) of the bed's admin,
//   not the ServiceAccount and upstream's RBAC (no external-*-runner ClusterRoles here);
// - no csi-attacher, csi-resizer, health monitor or livenessprobe: the CSIDriver says
//   attachRequired false (no attach-detach controller runs here to make VolumeAttachments);
// - the kubelet's folders are where its --root-dir is (a folder of the node's, mounted at
//   the same path in the container, since the kubelet names target paths under it);
// - one image holding the four binaries (build-images.sh's csi-hostpath), not four;
// - the StorageClass allows only the real node's topology: the kubelet stand-in's Node
//   (sim-node, which no driver runs on) would otherwise be a candidate for the scheduler.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { RealNode } from '../../node/real-node.js';
import { waitFor } from '../../process.js';
import { isApiError } from '../api.js';
import { deletePodAndWait } from './pod-deletion.js';
import { containerLog } from './virt-handler-pod.js';

export const HOSTPATH_DRIVER = 'hostpath.csi.k8s.io';
/** csi-driver-host-path's examples/csi-storageclass.yaml's name. */
export const HOSTPATH_STORAGE_CLASS = 'csi-hostpath-sc';
/** deploy/.../csi-hostpath-snapshotclass.yaml's name. */
export const HOSTPATH_SNAPSHOT_CLASS = 'csi-hostpath-snapclass';
/** The Node label the driver's NodeGetInfo names (its topology key): the kubelet sets it. */
export const HOSTPATH_TOPOLOGY_KEY = 'topology.hostpath.csi/node';
const NAMESPACE = 'kube-system';
const POD = 'csi-hostpathplugin-0';
const CONTAINERS = ['hostpath', 'node-driver-registrar', 'csi-provisioner', 'csi-snapshotter'] as const;

export interface HostpathCsi {
  /** The driver's state folder on the host (csi-data-dir: volumes and snapshots). */
  dataDir: string;
  /** A volume's folder on the host, by its PV's volumeHandle. */
  volumeDir(volumeHandle: string): string;
  /** A container's log so far. */
  log(container: (typeof CONTAINERS)[number]): string;
  /** The four containers' logs' tails, for a failure's message. */
  describe(): string;
  stop(): Promise<void>;
}

export async function startHostpathCsi(options: {
  kc: k8s.KubeConfig;
  /** The sidecars' kubeconfig (its server must be reachable from the node's Pods). */
  kubeconfigPath: string;
  node: RealNode;
  image: string;
}): Promise<HostpathCsi> {
  const { kc, node, image } = options;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const storage = kc.makeApiClient(k8s.StorageV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const ignoreExisting = (err: unknown) => {
    if (!isApiError(err, 409)) throw err;
  };

  // deploy/kubernetes-1.34/hostpath/csi-hostpath-driverinfo.yaml, but attachRequired false.
  await storage
    .createCSIDriver({
      body: {
        metadata: { name: HOSTPATH_DRIVER },
        spec: {
          attachRequired: false,
          podInfoOnMount: true,
          fsGroupPolicy: 'File',
          volumeLifecycleModes: ['Persistent', 'Ephemeral'],
        },
      },
    })
    .catch(ignoreExisting);
  await storage
    .createStorageClass({
      body: {
        metadata: { name: HOSTPATH_STORAGE_CLASS },
        provisioner: HOSTPATH_DRIVER,
        reclaimPolicy: 'Delete',
        volumeBindingMode: 'WaitForFirstConsumer',
        allowedTopologies: [
          { matchLabelExpressions: [{ key: HOSTPATH_TOPOLOGY_KEY, values: [node.nodeName] }] },
        ],
      },
    })
    .catch(ignoreExisting);
  await custom
    .createClusterCustomObject({
      group: 'snapshot.storage.k8s.io',
      version: 'v1',
      plural: 'volumesnapshotclasses',
      body: {
        apiVersion: 'snapshot.storage.k8s.io/v1',
        kind: 'VolumeSnapshotClass',
        metadata: { name: HOSTPATH_SNAPSHOT_CLASS },
        driver: HOSTPATH_DRIVER,
        deletionPolicy: 'Delete',
      },
    })
    .catch(ignoreExisting);
  // Its ServiceAccount as the deploy names it (the API server's ServiceAccount admission
  // wants the Pod's to exist); no token: the sidecars use the kubeconfig below.
  await core
    .createNamespacedServiceAccount({
      namespace: NAMESPACE,
      body: { metadata: { name: 'csi-hostpathplugin-sa' }, automountServiceAccountToken: false },
    })
    .catch(ignoreExisting);
  await core
    .createNamespacedSecret({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'csi-hostpathplugin-kubeconfig' },
        data: { kubeconfig: readFileSync(options.kubeconfigPath).toString('base64') },
      },
    })
    .catch(ignoreExisting);

  const dataDir = path.join(node.dir, 'csi-hostpath-data');
  mkdirSync(dataDir, { recursive: true });
  const root = node.kubeletRoot;
  const socketDir = path.join(root, 'plugins', 'csi-hostpath');
  const kubeconfig = '/etc/csi-kubeconfig/kubeconfig';
  const socketMount = { name: 'socket-dir', mountPath: '/csi' };
  const kubeconfigMount = { name: 'kubeconfig', mountPath: '/etc/csi-kubeconfig', readOnly: true };
  const pod: k8s.V1Pod = {
    metadata: {
      name: POD,
      namespace: NAMESPACE,
      labels: {
        'app.kubernetes.io/instance': HOSTPATH_DRIVER,
        'app.kubernetes.io/part-of': 'csi-driver-host-path',
        'app.kubernetes.io/name': 'csi-hostpathplugin',
        'app.kubernetes.io/component': 'plugin',
      },
    },
    spec: {
      nodeName: node.nodeName,
      serviceAccountName: 'csi-hostpathplugin-sa',
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 5,
      containers: [
        {
          name: 'hostpath',
          image,
          command: ['/hostpathplugin'],
          args: [
            `--drivername=${HOSTPATH_DRIVER}`,
            '--v=5',
            '--endpoint=$(CSI_ENDPOINT)',
            '--nodeid=$(KUBE_NODE_NAME)',
          ],
          env: [
            { name: 'CSI_ENDPOINT', value: 'unix:///csi/csi.sock' },
            { name: 'KUBE_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          ],
          securityContext: { privileged: true },
          volumeMounts: [
            socketMount,
            { name: 'mountpoint-dir', mountPath: path.join(root, 'pods'), mountPropagation: 'Bidirectional' },
            { name: 'plugins-dir', mountPath: path.join(root, 'plugins'), mountPropagation: 'Bidirectional' },
            { name: 'csi-data-dir', mountPath: '/csi-data-dir' },
            { name: 'dev-dir', mountPath: '/dev' },
          ],
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
        {
          name: 'node-driver-registrar',
          image,
          command: ['/csi-node-driver-registrar'],
          args: [
            '--v=5',
            '--csi-address=/csi/csi.sock',
            `--kubelet-registration-path=${path.join(socketDir, 'csi.sock')}`,
          ],
          env: [{ name: 'KUBE_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
          securityContext: { privileged: true },
          volumeMounts: [
            socketMount,
            { name: 'registration-dir', mountPath: '/registration' },
            { name: 'csi-data-dir', mountPath: '/csi-data-dir' },
          ],
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
        {
          name: 'csi-provisioner',
          image,
          command: ['/csi-provisioner'],
          args: [
            '-v=5',
            '--csi-address=/csi/csi.sock',
            '--feature-gates=Topology=true',
            `--kubeconfig=${kubeconfig}`,
          ],
          securityContext: { privileged: true },
          volumeMounts: [socketMount, kubeconfigMount],
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
        {
          name: 'csi-snapshotter',
          image,
          command: ['/csi-snapshotter'],
          args: ['-v=5', '--csi-address=/csi/csi.sock', `--kubeconfig=${kubeconfig}`],
          securityContext: { privileged: true },
          volumeMounts: [socketMount, kubeconfigMount],
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
      ],
      volumes: [
        { name: 'socket-dir', hostPath: { path: socketDir, type: 'DirectoryOrCreate' } },
        { name: 'mountpoint-dir', hostPath: { path: path.join(root, 'pods'), type: 'DirectoryOrCreate' } },
        {
          name: 'registration-dir',
          hostPath: { path: path.join(root, 'plugins_registry'), type: 'DirectoryOrCreate' },
        },
        { name: 'plugins-dir', hostPath: { path: path.join(root, 'plugins'), type: 'Directory' } },
        { name: 'csi-data-dir', hostPath: { path: dataDir, type: 'DirectoryOrCreate' } },
        { name: 'dev-dir', hostPath: { path: '/dev', type: 'Directory' } },
        { name: 'kubeconfig', secret: { secretName: 'csi-hostpathplugin-kubeconfig' } },
      ],
    },
  };
  mkdirSync(path.join(root, 'plugins'), { recursive: true });
  await core.createNamespacedPod({ namespace: NAMESPACE, body: pod });
  const log = (container: string) => containerLog(node, NAMESPACE, POD, container);
  const describe = () => CONTAINERS.map((c) => `--- ${c}:\n${log(c).slice(-2500)}`).join('\n');
  const csi: HostpathCsi = {
    dataDir,
    volumeDir: (volumeHandle) => path.join(dataDir, volumeHandle),
    log,
    describe,
    stop: () => deletePodAndWait(core, NAMESPACE, POD, 30_000).catch(() => undefined),
  };
  // Ready: the kubelet registered the driver (the Node's CSINode names it, and the Node
  // carries its topology label).
  try {
    await waitFor(
      `the kubelet to register CSI driver ${HOSTPATH_DRIVER}`,
      async () => {
        const csiNode = await storage.readCSINode({ name: node.nodeName }).catch(() => undefined);
        return !!csiNode?.spec.drivers.some((d) => d.name === HOSTPATH_DRIVER);
      },
      120_000,
      describe,
    );
  } catch (err) {
    await csi.stop();
    throw err;
  }
  return csi;
}
