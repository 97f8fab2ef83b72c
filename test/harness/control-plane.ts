// A real etcd and kube-apiserver, started the way controller-runtime's envtest does:
// etcd on free loopback ports with a temp data dir, kube-apiserver with RBAC, a
// client CA and service-account keys, admin as a client certificate in
// system:masters. Writes a kubeconfig that kubectl and @kubernetes/client-node read.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import { startOnFreePort, startProcess, type ManagedProcess } from './process.js';
import { createCertificateAuthority } from './tls.js';
import { toolPath } from './tools.js';

export interface ControlPlaneOptions {
  /**
   * Where the API server listens and what it advertises (default 127.0.0.1): a real node's
   * processes and Pods reach it there (the `kubernetes` Service's endpoint).
   */
  address?: string;
  /** --service-cluster-ip-range (default 10.0.0.0/24); its first address is the `kubernetes` Service's. */
  serviceCidr?: string;
  /**
   * The ServiceAccount admission plugin on, as in a cluster: a Pod gets its ServiceAccount's
   * token volume (and is refused while that ServiceAccount does not exist). Off by default:
   * it needs kube-controller-manager's serviceaccount and root-ca-cert-publisher
   * controllers (`default` in every namespace, the ConfigMap kube-root-ca.crt), which only
   * a bed with a real node runs.
   */
  serviceAccounts?: boolean;
}

export interface ControlPlane {
  /** https://ADDRESS:PORT (127.0.0.1 unless options.address) */
  server: string;
  kubeconfigPath: string;
  /** JSON lines of every write request (audit level Metadata), for counting what a client wrote. */
  auditLogPath: string;
  /** The cluster's CA (kube-controller-manager's --root-ca-file). */
  caFile: string;
  dir: string;
  /**
   * A kubeconfig (a file in `dir`) for a client certificate of this user in this group,
   * signed by the cluster's CA: a process authenticates as that user name.
   */
  userKubeconfig(user: string, group: string): string;
  stop(): Promise<void>;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function kubeconfig(server: string, caPem: string, certPem: string, keyPem: string): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'testbed', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
      users: [
        { name: 'admin', user: { 'client-certificate-data': b64(certPem), 'client-key-data': b64(keyPem) } },
      ],
      contexts: [{ name: 'testbed', context: { cluster: 'testbed', user: 'admin', namespace: 'default' } }],
      'current-context': 'testbed',
    },
    null,
    2,
  );
}

async function startEtcd(dir: string): Promise<{ process: ManagedProcess; url: string }> {
  return startOnFreePort(
    'etcd',
    async (clientPort) => {
      const peerPort = await freePort();
      const url = `http://127.0.0.1:${clientPort}`;
      const process = startProcess(
        toolPath('etcd'),
        [
          `--data-dir=${path.join(dir, 'etcd')}`,
          `--listen-client-urls=${url}`,
          `--advertise-client-urls=${url}`,
          `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
          '--unsafe-no-fsync=true',
          '--log-level=warn',
        ],
        path.join(dir, 'etcd.log'),
      );
      return { process, url };
    },
    async ({ url }) => (await fetch(`${url}/health`)).ok,
    30_000,
    freePort,
  );
}

function apiserverReady(server: string, caPem: string, certPem: string, keyPem: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(`${server}/readyz`, { ca: caPem, cert: certPem, key: keyPem }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const address = options.address ?? '127.0.0.1';
  const serviceCidr = options.serviceCidr ?? '10.0.0.0/24';
  const apiServiceIp = serviceCidr.replace(/\.0\/\d+$/, '.1');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-cp-'));
  const ca = createCertificateAuthority('serverimage-testbed-ca');
  const serving = ca.issue({
    commonName: 'kube-apiserver',
    // As kube-apiserver's own self-signed certificate: the Service's names and ClusterIP.
    dnsNames: [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
    ipAddresses: [...new Set(['127.0.0.1', address, apiServiceIp])],
    usage: 'server',
  });
  const admin = ca.issue({ commonName: 'admin', organization: 'system:masters', usage: 'client' });
  // The aggregation layer as kubeadm sets it up: a front-proxy CA and the client certificate
  // the API server presents to an aggregated API server (virt-api), which trusts the user in
  // its X-Remote-* headers only from a client that CA signed (the ConfigMap
  // kube-system/extension-apiserver-authentication tells it the CA and the headers).
  const frontProxyCa = createCertificateAuthority('front-proxy-ca');
  const frontProxyClient = frontProxyCa.issue({ commonName: 'front-proxy-client', usage: 'client' });
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const files = {
    ca: path.join(dir, 'ca.crt'),
    servingCert: path.join(dir, 'apiserver.crt'),
    servingKey: path.join(dir, 'apiserver.key'),
    saKey: path.join(dir, 'sa.key'),
    saPub: path.join(dir, 'sa.pub'),
    frontProxyCa: path.join(dir, 'front-proxy-ca.crt'),
    frontProxyCert: path.join(dir, 'front-proxy-client.crt'),
    frontProxyKey: path.join(dir, 'front-proxy-client.key'),
  };
  writeFileSync(files.frontProxyCa, frontProxyCa.certPem);
  writeFileSync(files.frontProxyCert, frontProxyClient.certPem);
  writeFileSync(files.frontProxyKey, frontProxyClient.keyPem);
  writeFileSync(files.ca, ca.certPem);
  writeFileSync(files.servingCert, serving.certPem);
  writeFileSync(files.servingKey, serving.keyPem);
  writeFileSync(files.saKey, sa.privateKey.export({ type: 'pkcs1', format: 'pem' }));
  writeFileSync(files.saPub, sa.publicKey.export({ type: 'spki', format: 'pem' }));
  const auditPolicy = path.join(dir, 'audit-policy.yaml');
  const auditLogPath = path.join(dir, 'audit.log');
  writeFileSync(
    auditPolicy,
    JSON.stringify({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      omitStages: ['RequestReceived'],
      rules: [
        { level: 'Metadata', verbs: ['create', 'update', 'patch', 'delete', 'deletecollection'] },
        { level: 'None' },
      ],
    }),
  );

  const etcd = await startEtcd(dir);
  // A failed start leaves nothing running: a stray etcd would hold the test run open.
  let apiserver: ManagedProcess;
  let server: string;
  try {
    ({ process: apiserver, server } = await startOnFreePort(
      'kube-apiserver',
      (port) => {
        const server = `https://${address}:${port}`;
        const process = startProcess(
          toolPath('kube-apiserver'),
          [
            `--etcd-servers=${etcd.url}`,
            `--secure-port=${port}`,
            `--bind-address=${address}`,
            `--advertise-address=${address}`,
            // A real node's kubelet (logs, exec) by its address: no DNS knows node names here.
            '--kubelet-preferred-address-types=InternalIP,Hostname',
            `--cert-dir=${dir}`,
            `--tls-cert-file=${files.servingCert}`,
            `--tls-private-key-file=${files.servingKey}`,
            `--client-ca-file=${files.ca}`,
            `--service-cluster-ip-range=${serviceCidr}`,
            `--service-account-issuer=${server}/`,
            `--service-account-key-file=${files.saPub}`,
            `--service-account-signing-key-file=${files.saKey}`,
            '--authorization-mode=RBAC',
            `--requestheader-client-ca-file=${files.frontProxyCa}`,
            '--requestheader-allowed-names=front-proxy-client',
            '--requestheader-username-headers=X-Remote-User',
            '--requestheader-group-headers=X-Remote-Group',
            '--requestheader-extra-headers-prefix=X-Remote-Extra-',
            `--proxy-client-cert-file=${files.frontProxyCert}`,
            `--proxy-client-key-file=${files.frontProxyKey}`,
            ...(options.serviceAccounts ? [] : ['--disable-admission-plugins=ServiceAccount']),
            '--allow-privileged=true',
            `--audit-policy-file=${auditPolicy}`,
            `--audit-log-path=${auditLogPath}`,
            '--audit-log-mode=batch',
            '--audit-log-batch-max-wait=1s',
            '--v=0',
          ],
          path.join(dir, 'kube-apiserver.log'),
        );
        return { process, server };
      },
      ({ server }) => apiserverReady(server, ca.certPem, admin.certPem, admin.keyPem),
      60_000,
      freePort,
    ));
  } catch (err) {
    await etcd.process.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const kubeconfigPath = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfig(server, ca.certPem, admin.certPem, admin.keyPem));
  return {
    server,
    kubeconfigPath,
    auditLogPath,
    caFile: files.ca,
    dir,
    userKubeconfig(user, group) {
      const cert = ca.issue({ commonName: user, organization: group, usage: 'client' });
      const file = path.join(dir, `kubeconfig-${user.replace(/[^a-z0-9-]/gi, '_')}`);
      writeFileSync(file, kubeconfig(server, ca.certPem, cert.certPem, cert.keyPem));
      return file;
    },
    async stop() {
      await apiserver.stop();
      await etcd.process.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
