// The bed's real node (test/harness/node/): the real kubelet on containerd runs an exporter
// Pod as KubeVirt's export controller lays it out (KubeVirt's virt-exportserver image built
// here, its certificate and token from Secret volumes, a disk from a hostPath volume, its
// HTTPS readiness probe) in the node's Pod network (CNI bridge), reached from the host at
// the Pod's IP. The disk comes back byte for byte, and the Pod's status is the kubelet's.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { until } from '../harness/kubevirt/testing.js';
import { startRealNode, type RealNode } from '../harness/node/real-node.js';
import { createNamespace, kubeConfig, kubeconfigPath } from '../harness/testbed.js';
import { createCertificateAuthority } from '../harness/tls.js';

let node: RealNode;
let core: k8s.CoreV1Api;
let ns: string;
let diskDir: string;

beforeAll(async () => {
  core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  ns = await createNamespace('node');
  diskDir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-node-disk-'));
  node = await startRealNode({
    nodeName: `real-node-${randomBytes(3).toString('hex')}`,
    kubeconfigPath: kubeconfigPath(),
    images: ['exporter'],
  });
}, 300_000);

afterAll(async () => {
  await node?.stop();
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
  const ca = createCertificateAuthority('export-ca');
  const serving = ca.issue({ commonName: 'virt-export-x', dnsNames: ['virt-export-x'], usage: 'server' });
  const token = randomBytes(16).toString('hex');
  const disk = randomBytes(3 << 20);
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
      metadata: { name: 'virt-export-x' },
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
  expect(podIP.startsWith(node.network.subnet.replace(/0\/24$/, ''))).toBe(true);
  const got = await get(podIP, '/volumes/disk/disk.img', ca.certPem, token);
  expect(createHash('sha256').update(got).digest('hex')).toBe(
    createHash('sha256').update(disk).digest('hex'),
  );

  // The runtime's own listing has the container, under the Pod's name.
  const listed = await node.containerd.ctr(['containers', 'ls']);
  expect(listed).toContain(node.image('exporter'));
}, 240_000);

const b64 = (s: string) => Buffer.from(s).toString('base64');
