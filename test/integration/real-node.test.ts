// The bed's real node (test/harness/node/): the real kubelet on containerd runs an exporter
// Pod as KubeVirt's export controller lays it out (KubeVirt's virt-exportserver image built
// here, its certificate and token from Secret volumes, a disk from a hostPath volume, its
// HTTPS readiness probe) in the node's Pod network (CNI bridge), reached from the host at
// the Pod's IP. The disk comes back byte for byte, and the Pod's status is the kubelet's.
// A second Pod resolves the exporter's Service name through CoreDNS and reads it through
// kube-proxy's ClusterIP, and reaches the API server through the `kubernetes` Service.
// Stopping the node leaves no namespace, route or iptables rule behind.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { promisify } from 'node:util';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { startKubeControllerManager } from '../harness/kubevirt/real/kube-controller-manager.js';
import { until } from '../harness/kubevirt/testing.js';
import { type ManagedProcess } from '../harness/process.js';
import { createNodeNetwork, type NodeNetwork } from '../harness/node/netns.js';
import { startRealNode, type RealNode } from '../harness/node/real-node.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import { createCertificateAuthority, type CertificateAuthority } from '../harness/tls.js';

const execFileAsync = promisify(execFile);

let network: NodeNetwork;
let controlPlane: ControlPlane;
let node: RealNode;
let controllerManager: ManagedProcess;
let core: k8s.CoreV1Api;
let ns: string;
let diskDir: string;
let ca: CertificateAuthority;
const token = randomBytes(16).toString('hex');
const disk = randomBytes(3 << 20);

// A control plane of its own, listening on the node's link (the node and its Pods reach it
// there), with the node's Service range, and kube-controller-manager's endpointslice
// controller (kube-proxy and CoreDNS read Services' endpoints from its slices).
beforeAll(async () => {
  network = await createNodeNetwork();
  controlPlane = await startControlPlane({ address: network.hostIp, serviceCidr: network.serviceCidr });
  process.env.SERVERIMAGE_TESTBED_KUBECONFIG = controlPlane.kubeconfigPath;
  controllerManager = startKubeControllerManager({
    kubeconfigPath: controlPlane.kubeconfigPath,
    dir: controlPlane.dir,
    endpointSlices: true,
  });
  core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  ns = await createNamespace('node');
  diskDir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-node-disk-'));
  node = await startRealNode({
    nodeName: `real-node-${randomBytes(3).toString('hex')}`,
    kubeconfigPath: controlPlane.kubeconfigPath,
    images: ['exporter', 'node-base'],
    network,
  });
}, 300_000);

afterAll(async () => {
  await node?.stop();
  await controllerManager?.stop();
  await controlPlane?.stop();
  await network?.remove();
  rmSync(diskDir, { recursive: true, force: true });
});

function get(host: string, urlPath: string, caPem: string, token?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = token ? { 'x-kubevirt-export-token': token } : {};
    https
      // The certificate names the Pod, as KubeVirt's names the Service: checked against servername.
      .get(
        { host, port: 8443, path: urlPath, ca: caPem, headers, agent: false, servername: 'virt-export-x' },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(Buffer.concat(chunks))
              : reject(new Error(`${urlPath}: ${res.statusCode}`)),
          );
        },
      )
      .on('error', reject);
  });
}

it('runs an exporter Pod in the Pod network: Secret and hostPath volumes, readiness probe, status by the kubelet', async () => {
  ca = createCertificateAuthority('export-ca');
  // As KubeVirt's: the Service's name (the Pod below dials it), and the Pod's.
  const serving = ca.issue({
    commonName: 'virt-export-x',
    dnsNames: ['virt-export-x', `virt-export-x.${ns}.svc`],
    usage: 'server',
  });
  writeFileSync(path.join(diskDir, 'disk.img'), disk, { mode: 0o644 });
  // The exporter runs as KubeVirt's user 1001.
  chmodSync(diskDir, 0o755);
  await core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'cert' },
      data: { 'tls.crt': b64(serving.certPem), 'tls.key': b64(serving.keyPem) },
    },
  });
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'token' }, data: { token: b64(token) } },
  });
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'virt-export-x', labels: { app: 'virt-export-x' } },
      spec: {
        nodeName: node.nodeName,
        restartPolicy: 'Never',
        containers: [
          {
            name: 'exporter',
            image: node.image('exporter'),
            imagePullPolicy: 'Never',
            env: [
              { name: 'POD_NAME', value: 'virt-export-x' },
              { name: 'CERT_FILE', value: '/cert/tls.crt' },
              { name: 'KEY_FILE', value: '/cert/tls.key' },
              { name: 'TOKEN_FILE', value: '/token/token' },
              { name: 'VOLUME0_EXPORT_PATH', value: '/export-volumes/disk' },
              { name: 'VOLUME0_EXPORT_RAW_URI', value: '/volumes/disk/disk.img' },
              { name: 'VOLUME0_EXPORT_RAW_GZIP_URI', value: '/volumes/disk/disk.img.gz' },
            ],
            readinessProbe: {
              httpGet: { path: '/exportready', port: 8443, scheme: 'HTTPS' },
              periodSeconds: 1,
            },
            volumeMounts: [
              { name: 'cert', mountPath: '/cert' },
              { name: 'token', mountPath: '/token' },
              { name: 'disk', mountPath: '/export-volumes/disk' },
            ],
          },
        ],
        volumes: [
          { name: 'cert', secret: { secretName: 'cert' } },
          { name: 'token', secret: { secretName: 'token' } },
          { name: 'disk', hostPath: { path: diskDir, type: 'Directory' } },
        ],
      },
    },
  });
  const pod = await until(
    'exporter Pod Ready',
    async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: 'virt-export-x' });
      if (p.status?.phase === 'Failed') throw new Error(`Pod failed: ${JSON.stringify(p.status)}`);
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && p;
    },
    120_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nkubelet log:\n${node.kubelet.tail(30)}`);
  });
  const statusWriters = (pod.metadata?.managedFields ?? [])
    .filter((f) => f.subresource === 'status')
    .map((f) => f.manager);
  expect(statusWriters).toContain('kubelet');
  expect(pod.status?.containerStatuses?.[0]?.imageID).toMatch(/^sha256:|@sha256:/);

  // An address of the node's Pod network, reached through the bridge's address on the host.
  const podIP = pod.status!.podIP!;
  expect(podIP.startsWith(node.network.podSubnet.replace(/0\/24$/, ''))).toBe(true);
  const got = await get(podIP, '/volumes/disk/disk.img', ca.certPem, token);
  expect(createHash('sha256').update(got).digest('hex')).toBe(
    createHash('sha256').update(disk).digest('hex'),
  );

  // The runtime's own listing has the container, under the Pod's name.
  const listed = await node.containerd.ctr(['containers', 'ls']);
  expect(listed).toContain(node.image('exporter'));
}, 240_000);

const b64 = (s: string) => Buffer.from(s).toString('base64');

// What a Pod runs: the exporter's Service by name (CoreDNS, the search list of the
// kubelet's resolv.conf), its bytes through the ClusterIP (kube-proxy), and the API
// server's /version through the `kubernetes` Service. One JSON line on stdout.
const CLIENT = `
const { lookup } = require('node:dns/promises');
const https = require('node:https');
const crypto = require('node:crypto');
const get = (url, opts) => new Promise((resolve, reject) =>
  https.get(url, { ...opts, agent: false }, (r) => {
    const h = crypto.createHash('sha256'); const chunks = [];
    r.on('data', (c) => { h.update(c); chunks.push(c); });
    r.on('end', () => resolve({ status: r.statusCode, sha256: h.digest('hex'), body: Buffer.concat(chunks).toString() }));
  }).on('error', reject));
(async () => {
  const exportHost = 'virt-export-x.' + process.env.NS + '.svc';
  const out = { exportAddress: (await lookup(exportHost)).address };
  // kube-proxy writes the Service's rules a moment after its endpoints appear: retried, as a client would
  // (refused, or unreachable: the bed rejects a ClusterIP without DNAT so it does not loop).
  let read;
  for (let i = 0; !read; i++) {
    read = await get('https://' + exportHost + '/volumes/disk/disk.img',
      { ca: process.env.EXPORT_CA, headers: { 'x-kubevirt-export-token': process.env.TOKEN } })
      .catch((err) => { if (!['ECONNREFUSED', 'ENETUNREACH'].includes(err.code) || i > 50) throw err; return new Promise((r) => setTimeout(r, 200)); });
  }
  out.exportStatus = read.status; out.exportSha256 = read.sha256;
  out.apiAddress = (await lookup('kubernetes.default.svc')).address;
  const version = await get('https://kubernetes.default.svc/version', { ca: process.env.API_CA });
  out.apiVersion = JSON.parse(version.body).gitVersion;
  console.log(JSON.stringify(out));
})().catch((err) => { console.log(JSON.stringify({ error: String(err) })); process.exit(1); });
`;

it('a Pod resolves a Service name through CoreDNS and reaches it and the API server through kube-proxy', async () => {
  const service = await core.createNamespacedService({
    namespace: ns,
    body: {
      metadata: { name: 'virt-export-x' },
      spec: { selector: { app: 'virt-export-x' }, ports: [{ port: 443, targetPort: 8443 }] },
    },
  });
  const clusterIP = service.spec!.clusterIP!;
  // kube-controller-manager's EndpointSlice, with the exporter Pod ready: what kube-proxy follows.
  const discovery = kubeConfig().makeApiClient(k8s.DiscoveryV1Api);
  await until(
    'the EndpointSlice of virt-export-x',
    async () =>
      (
        await discovery.listNamespacedEndpointSlice({
          namespace: ns,
          labelSelector: 'kubernetes.io/service-name=virt-export-x',
        })
      ).items.some((sl) => (sl.endpoints ?? []).some((e) => e.conditions?.ready)),
    30_000,
  );
  expect(clusterIP.startsWith(network.serviceCidr.replace(/0\/24$/, ''))).toBe(true);
  const apiCa = Buffer.from(kubeConfig().getCurrentCluster()!.caData!, 'base64').toString();
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'client' },
      spec: {
        nodeName: node.nodeName,
        restartPolicy: 'Never',
        containers: [
          {
            name: 'client',
            image: node.image('node-base'),
            imagePullPolicy: 'Never',
            command: ['node', '-e', CLIENT],
            env: [
              { name: 'NS', value: ns },
              { name: 'TOKEN', value: token },
              { name: 'EXPORT_CA', value: ca.certPem },
              { name: 'API_CA', value: apiCa },
            ],
          },
        ],
      },
    },
  });
  const pod = await until(
    'the client Pod to finish',
    async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: 'client' });
      return (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') && p;
    },
    120_000,
  );
  // Its log through the API server, which reads it from the kubelet on the node's address.
  const log = await core.readNamespacedPodLog({ namespace: ns, name: 'client' });
  expect(JSON.parse(log.trim())).toEqual({
    exportAddress: clusterIP,
    exportStatus: 200,
    exportSha256: createHash('sha256').update(disk).digest('hex'),
    apiAddress: network.apiServiceIp,
    // What the host reads from the same API server (the bed's build carries no version stamp).
    apiVersion: (await kubeConfig().makeApiClient(k8s.VersionApi).getCode()).gitVersion,
  });
  expect(pod.status?.phase).toBe('Succeeded');
  // CoreDNS is a Pod on the node whose status the kubelet wrote.
  const dnsPod = await core.readNamespacedPod({ namespace: 'kube-system', name: node.dns.pod });
  expect(dnsPod.spec?.nodeName).toBe(node.nodeName);
  expect(
    (dnsPod.metadata?.managedFields ?? []).some((f) => f.subresource === 'status' && f.manager === 'kubelet'),
  ).toBe(true);
}, 180_000);

it('stopping the node leaves no network namespace, route or iptables rule behind', async () => {
  const serviceNet = network.serviceCidr.replace(/0\/24$/, '');
  // kube-proxy's rules while it runs: in the node's namespace only.
  const { stdout: inNode } = await execFileAsync('nsenter', [`--net=${network.path}`, '--', 'iptables-save']);
  expect(inNode).toContain(':KUBE-SERVICES');
  expect(inNode).toContain(network.dnsIp);
  const sandboxes = await node.containerd.sandboxNetns();
  expect(sandboxes.length).toBeGreaterThanOrEqual(3); // CoreDNS, the exporter, the client
  const { stdout: onHostBefore } = await execFileAsync('iptables-save');
  expect(onHostBefore).not.toContain(serviceNet);
  await node.stop();
  await network.remove();
  expect((await execFileAsync('ip', ['netns', 'list'])).stdout).not.toContain(network.name);
  expect((await execFileAsync('ip', ['-4', 'route', 'show'])).stdout).not.toMatch(
    new RegExp(`^10\\.${network.podSubnet.split('.')[1]}\\.`, 'm'),
  );
  expect((await execFileAsync('iptables-save')).stdout).not.toContain(serviceNet);
  // No Pod sandbox's network namespace is left behind.
  expect(sandboxes.filter((f) => existsSync(f))).toEqual([]);
}, 120_000);
