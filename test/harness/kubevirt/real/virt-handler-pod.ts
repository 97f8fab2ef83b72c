// KubeVirt's real virt-handler (v1.8.4) as a privileged Pod on the real node, laid out as
// virt-operator's install strategy deploys it (pkg/virt-operator/resource/generate/
// components/daemonsets.go): hostPID, the node-labeller init container of the launcher
// image, the certificate Secrets and the kubevirt-ca ConfigMap, and the host folders it
// shares with the kubelet and the launcher Pods. It labels the Node schedulable, registers
// its device plugins (kvm, tun, vhost-net) with the kubelet and runs the VMIs virt-controller
// puts on the Node through their virt-launcher Pods.
// Differences from virt-operator's DaemonSet, each for this bed:
// - a bare Pod bound to the node: the bed runs no DaemonSet controller;
// - hostNetwork (the node's network namespace, netns.ts) and the bed's kubeconfig (a
//   Secret, --kubeconfig), which names the API server at the host's end of the node's link:
//   the bed's admin, as the kubelet and kube-proxy are, since the bed has no virt-operator
//   to make its ServiceAccount's RBAC; KubeVirt's default ports (the node's own);
// - its node-local folders (/var/run/kubevirt, -private, -libvirt-runtimes,
//   /var/lib/kubevirt-node-labeller) are folders of the node's own, not the host's, so beds
//   do not share them and stop() removes them; /var/lib/kubelet is the kubelet's --root-dir.
//   The node's mounts are shared (node-namespaces.ts), as the runtime wants for the
//   Bidirectional ones.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { RealNode } from '../../node/real-node.js';
import { waitFor } from '../../process.js';
import { isApiError } from '../api.js';
import { deletePodAndWait } from './pod-deletion.js';
import { KUBEVIRT_NAMESPACE } from './virt-controller.js';

export interface RealVirtHandler {
  podName: string;
  /** The virt-handler container's log so far (the kubelet's file). */
  log(): string;
  stop(): Promise<void>;
}

type Pem = { certPem: string; keyPem: string };

/**
 * A CA and the certificates it signs for virt-handler's Secrets, by common name (server and
 * client use each), as PEM. virt-operator's names: the server's
 * `kubevirt.io:system:node:virt-handler`, the clients' `kubevirt.io:system:client:NAME`, which
 * the other side checks (virt-handler accepts virt-api's calls only from
 * `...:client:virt-handler`, the certificate of kubevirt-virt-handler-certs that virt-api uses).
 */
function handlerCertificates(dir: string, commonNames: string[]): { caPem: string; certs: Map<string, Pem> } {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('ca.key'));
  openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-days',
    '7',
    '-subj',
    '/CN=kubevirt.io',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  execFileSync('sh', [
    '-c',
    `printf 'extendedKeyUsage=serverAuth,clientAuth\\nsubjectAltName=DNS:virt-handler,DNS:*.virt-handler.kubevirt.svc,IP:127.0.0.1\\n' >"${f('ext')}"`,
  ]);
  const certs = new Map<string, Pem>();
  for (const [i, cn] of commonNames.entries()) {
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f(`${i}.key`));
    openssl('req', '-new', '-key', f(`${i}.key`), '-out', f(`${i}.csr`), '-subj', `/CN=${cn}`);
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${i}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${i}.crt`),
      '-days',
      '7',
      '-extfile',
      f('ext'),
    );
    certs.set(cn, {
      certPem: readFileSync(f(`${i}.crt`), 'utf8'),
      keyPem: readFileSync(f(`${i}.key`), 'utf8'),
    });
  }
  return { caPem: readFileSync(f('ca.crt'), 'utf8'), certs };
}

// Secret, mount path, the certificate's common name (virt-operator's, secrets.go).
const CERT_SECRETS: Array<[string, string, string]> = [
  [
    'kubevirt-virt-handler-certs',
    '/etc/virt-handler/clientcertificates',
    'kubevirt.io:system:client:virt-handler',
  ],
  [
    'kubevirt-virt-handler-server-certs',
    '/etc/virt-handler/servercertificates',
    'kubevirt.io:system:node:virt-handler',
  ],
  [
    'kubevirt-virt-handler-migration-client-certs',
    '/etc/virt-handler/migrationservercertificates',
    'kubevirt.io:system:client:migration',
  ],
  [
    'kubevirt-virt-handler-vsock-client-certs',
    '/etc/virt-handler/vsockclientcertificates',
    'kubevirt.io:system:client:vsock',
  ],
];

async function createOrReplace(create: () => Promise<unknown>, remove: () => Promise<unknown>) {
  try {
    await create();
  } catch (err) {
    if (!isApiError(err, 409)) throw err;
    await remove();
    await create();
  }
}

export async function startRealVirtHandler(options: {
  kc: k8s.KubeConfig;
  kubeconfigPath: string;
  node: RealNode;
  handlerImage: string;
  launcherImage: string;
}): Promise<RealVirtHandler> {
  const { kc, node } = options;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const ns = KUBEVIRT_NAMESPACE;
  const hostDir = path.join(node.dir, 'kubevirt');
  const certs = handlerCertificates(
    path.join(hostDir, 'pki'),
    CERT_SECRETS.map(([, , cn]) => cn),
  );
  for (const [name, , cn] of CERT_SECRETS) {
    const pem = certs.certs.get(cn)!;
    const tls = {
      'tls.crt': Buffer.from(pem.certPem).toString('base64'),
      'tls.key': Buffer.from(pem.keyPem).toString('base64'),
    };
    await createOrReplace(
      () =>
        core.createNamespacedSecret({
          namespace: ns,
          body: { metadata: { name }, type: 'kubernetes.io/tls', data: tls },
        }),
      () => core.deleteNamespacedSecret({ namespace: ns, name }),
    );
  }
  await createOrReplace(
    () =>
      core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'kubevirt-ca' }, data: { 'ca-bundle': certs.caPem } },
      }),
    () => core.deleteNamespacedConfigMap({ namespace: ns, name: 'kubevirt-ca' }),
  );
  await createOrReplace(
    () =>
      core.createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: { name: 'virt-handler-kubeconfig' },
          data: { kubeconfig: readFileSync(options.kubeconfigPath).toString('base64') },
        },
      }),
    () => core.deleteNamespacedSecret({ namespace: ns, name: 'virt-handler-kubeconfig' }),
  );

  // virt-operator's host paths, as folders of this node.
  const host = {
    runtimes: path.join(hostDir, 'var-run-kubevirt-libvirt-runtimes'),
    share: path.join(hostDir, 'var-run-kubevirt'),
    private: path.join(hostDir, 'var-run-kubevirt-private'),
    labeller: path.join(hostDir, 'var-lib-kubevirt-node-labeller'),
  };
  for (const d of Object.values(host)) mkdirSync(d, { recursive: true });

  // KubeVirt's defaults: the node's network namespace is its own.
  const port = 8443;
  const consolePort = 8186;
  const bidi = 'Bidirectional';
  const hostPaths: Array<[string, string, string, string | undefined]> = [
    ['libvirt-runtimes', host.runtimes, '/var/run/kubevirt-libvirt-runtimes', undefined],
    ['virt-share-dir', host.share, '/var/run/kubevirt', bidi],
    ['virt-private-dir', host.private, '/var/run/kubevirt-private', undefined],
    ['kubelet-pods', path.join(node.kubeletRoot, 'pods'), '/pods', undefined],
    ['kubelet', node.kubeletRoot, '/var/lib/kubelet', bidi],
    ['node-labeller', host.labeller, '/var/lib/kubevirt-node-labeller', undefined],
  ];
  const podName = 'virt-handler';
  const pod: k8s.V1Pod = {
    metadata: {
      name: podName,
      namespace: ns,
      labels: { 'kubevirt.io': 'virt-handler', 'app.kubernetes.io/component': 'kubevirt' },
    },
    spec: {
      nodeName: node.nodeName,
      hostPID: true,
      hostNetwork: true,
      dnsPolicy: 'ClusterFirstWithHostNet',
      terminationGracePeriodSeconds: 10,
      initContainers: [
        {
          name: 'virt-launcher',
          image: options.launcherImage,
          command: ['/bin/sh', '-c'],
          args: ['node-labeller.sh'],
          env: [
            { name: 'PREFERRED_VIRTTYPE', value: 'kvm' },
            { name: 'HYPERVISOR_DEVICE', value: 'kvm' },
          ],
          securityContext: { privileged: true },
          volumeMounts: [{ name: 'node-labeller', mountPath: '/var/lib/kubevirt-node-labeller' }],
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
      ],
      containers: [
        {
          name: 'virt-handler',
          image: options.handlerImage,
          command: ['virt-handler'],
          args: [
            '--port',
            String(port),
            '--hostname-override',
            '$(NODE_NAME)',
            '--pod-ip-address',
            '127.0.0.1',
            '--max-metric-requests',
            '3',
            '--console-server-port',
            String(consolePort),
            '--graceful-shutdown-seconds',
            '5',
            '--kubeconfig',
            '/etc/virt-handler/kubeconfig/kubeconfig',
            '-v',
            '2',
          ],
          env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
          securityContext: { privileged: true },
          volumeMounts: [
            ...hostPaths.map(([name, , mountPath, mountPropagation]) => ({
              name,
              mountPath,
              mountPropagation,
            })),
            ...CERT_SECRETS.map(([name, mountPath]) => ({ name, mountPath, readOnly: true })),
            { name: 'kubeconfig', mountPath: '/etc/virt-handler/kubeconfig', readOnly: true },
            { name: 'profile-data', mountPath: '/profile-data' },
          ],
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
      ],
      volumes: [
        ...hostPaths.map(([name, hostPath]) => ({ name, hostPath: { path: hostPath } })),
        ...CERT_SECRETS.map(([name]) => ({ name, secret: { secretName: name, optional: true } })),
        { name: 'kubeconfig', secret: { secretName: 'virt-handler-kubeconfig' } },
        { name: 'profile-data', emptyDir: {} },
      ],
    },
  };
  await core.createNamespacedPod({ namespace: ns, body: pod });
  const handler: RealVirtHandler = {
    podName,
    log: () => containerLog(node, ns, podName, 'virt-handler'),
    stop: () => deletePodAndWait(core, ns, podName, 30_000).catch(() => undefined),
  };
  // Ready for VMIs: the Node labelled schedulable and the device plugins' resources
  // advertised by the kubelet.
  let last: k8s.V1Node | undefined;
  try {
    await waitFor(
      `virt-handler to make ${node.nodeName} schedulable`,
      async () => {
        last = await core.readNode({ name: node.nodeName });
        const allocatable = last.status?.allocatable ?? {};
        // Each of the three plugins registered; vhost-net advertises 0 where the host has no
        // /dev/vhost-net (this machine), which VMIs without a network interface do not need.
        return (
          last.metadata?.labels?.['kubevirt.io/schedulable'] === 'true' &&
          ['kvm', 'tun', 'vhost-net'].every((d) => `devices.kubevirt.io/${d}` in allocatable)
        );
      },
      120_000,
      () =>
        `labels ${JSON.stringify(last?.metadata?.labels)} allocatable ${JSON.stringify(last?.status?.allocatable)}\n` +
        `node-labeller:\n${containerLog(node, ns, podName, 'virt-launcher').slice(-3000)}\n` +
        `virt-handler:\n${handler.log().slice(-6000)}`,
    );
  } catch (err) {
    await handler.stop();
    throw err;
  }
  return handler;
}

/** A container's log as the kubelet wrote it (all restarts, oldest first); '' when none yet. */
export function containerLog(node: RealNode, ns: string, pod: string, container: string): string {
  try {
    const out = execFileSync(
      'sh',
      [
        '-c',
        `cat "$1"/"$2"_"$3"_*/"$4"/*.log 2>/dev/null || true`,
        'sh',
        node.podLogsDir,
        ns,
        pod,
        container,
      ],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    return out;
  } catch {
    return '';
  }
}
