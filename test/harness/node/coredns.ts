// The real node's cluster DNS: CoreDNS (github.com/coredns/coredns, built by build-tools.sh,
// in the `coredns` image of build-images.sh) as a Pod on the node with the Service
// kube-system/kube-dns at the ClusterIP the kubelet gives Pods as their nameserver, laid
// out as kubeadm's addon is (ServiceAccount `coredns`, its ClusterRole, the Corefile in a
// ConfigMap). It reads Services and EndpointSlices through the `kubernetes` Service, so it
// is Ready only when kube-proxy routes that to the API server.
// Differences from kubeadm's, and why:
//  - no `forward` (and no `loop`): the node's Pods have no route out of the machine (no
//    NAT), and nothing in the bed resolves a name outside cluster.local;
//  - a bare Pod bound to the node by spec.nodeName: the bed runs no Deployment controller;
//  - its token volume written into the Pod as the ServiceAccount admission plugin would
//    add it (the bed's API server runs without that plugin), with the ConfigMap
//    kube-root-ca.crt that kube-controller-manager's root-ca-cert-publisher would make;
//  - port 53 as uid 65532 through the safe sysctl net.ipv4.ip_unprivileged_port_start=0,
//    not a file capability (the image is `docker import`ed from a tar without xattrs).
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../process.js';

const NS = 'kube-system';
const NAME = 'coredns';
const LABELS = { 'k8s-app': 'kube-dns' };

const COREFILE = `.:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    cache 30
    loadbalance
}
`;

export interface ClusterDns {
  /** kube-dns's ClusterIP. */
  ip: string;
  /** The CoreDNS Pod's name (kube-system). */
  pod: string;
}

export async function startCoreDns(options: {
  kc: k8s.KubeConfig;
  nodeName: string;
  image: string;
  dnsIp: string;
}): Promise<ClusterDns> {
  const { kc } = options;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await rbac.createClusterRole({
    body: {
      metadata: { name: 'system:coredns' },
      rules: [
        {
          apiGroups: [''],
          resources: ['endpoints', 'services', 'pods', 'namespaces'],
          verbs: ['list', 'watch'],
        },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'system:coredns' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
      subjects: [{ kind: 'ServiceAccount', name: NAME, namespace: NS }],
    },
  });
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: NAME } } });
  const caPem = Buffer.from(kc.getCurrentCluster()!.caData!, 'base64').toString();
  await core.createNamespacedConfigMap({
    namespace: NS,
    body: { metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': caPem } },
  });
  await core.createNamespacedConfigMap({
    namespace: NS,
    body: { metadata: { name: NAME }, data: { Corefile: COREFILE } },
  });
  await core.createNamespacedService({
    namespace: NS,
    body: {
      metadata: { name: 'kube-dns', labels: { ...LABELS, 'kubernetes.io/name': 'CoreDNS' } },
      spec: {
        selector: LABELS,
        clusterIP: options.dnsIp,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    },
  });
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: NAME, labels: LABELS },
      spec: {
        nodeName: options.nodeName,
        serviceAccountName: NAME,
        priorityClassName: 'system-cluster-critical',
        dnsPolicy: 'Default',
        securityContext: {
          runAsUser: 65532,
          runAsGroup: 65532,
          runAsNonRoot: true,
          sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }],
        },
        containers: [
          {
            name: 'coredns',
            image: options.image,
            imagePullPolicy: 'IfNotPresent',
            args: ['-conf', '/etc/coredns/Corefile'],
            ports: [
              { name: 'dns', containerPort: 53, protocol: 'UDP' },
              { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
            ],
            resources: { limits: { memory: '170Mi' }, requests: { cpu: '100m', memory: '70Mi' } },
            securityContext: {
              allowPrivilegeEscalation: false,
              capabilities: { drop: ['ALL'] },
              readOnlyRootFilesystem: true,
            },
            livenessProbe: {
              httpGet: { path: '/health', port: 8080 },
              initialDelaySeconds: 60,
              timeoutSeconds: 5,
              failureThreshold: 5,
            },
            // Ready once the kubernetes plugin has synced Services and EndpointSlices.
            readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 1 },
            volumeMounts: [
              { name: 'config-volume', mountPath: '/etc/coredns', readOnly: true },
              {
                name: 'kube-api-access',
                mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
                readOnly: true,
              },
            ],
          },
        ],
        volumes: [
          {
            name: 'config-volume',
            configMap: { name: NAME, items: [{ key: 'Corefile', path: 'Corefile' }] },
          },
          {
            name: 'kube-api-access',
            projected: {
              sources: [
                { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
                { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                {
                  downwardAPI: {
                    items: [
                      { path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
                    ],
                  },
                },
              ],
            },
          },
        ],
      },
    },
  });
  let last: k8s.V1Pod | undefined;
  await waitFor(
    'CoreDNS Ready on the real node',
    async () => {
      last = await core.readNamespacedPod({ namespace: NS, name: NAME });
      return !!last.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    },
    60_000,
    () => JSON.stringify(last?.status?.containerStatuses ?? last?.status?.conditions ?? null),
  );
  return { ip: options.dnsIp, pod: NAME };
}
