// The transfer Pod on the bed's real node: the real kubelet runs the operator's image with
// the transfer entry point, as the builder (src/transfer/pod-spec.ts) lays the Pod out,
// against a real exporter Pod (KubeVirt's virt-exportserver) and the bed's real registry
// (basic auth, TLS with a CA of its own). Read back with crane: bytes exact, and the digests
// in the termination message. A Pod deleted mid-push (SIGTERM) leaves no upload session.
//
// What the bed adds (no source change): the Pod's nodeName (the plain bed runs no
// scheduler), and a hostAliases entry naming the exporter Pod's IP under the name its
// certificate carries (the exporter has no Service here: the URL has the Pod's port 8443).
// The node has a network namespace of its own (node/netns.ts): the suite's control plane
// listens on the host's end of the node's link, with the node's Service range, and so does
// the registry, the host as Pods reach it.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { loadConfig } from '../../src/config.js';
import { transferPod, type TransferOwner } from '../../src/transfer/pod-spec.js';
import { PodFailure, transferPodOutcome, UNSCHEDULABLE_GRACE_MS } from '../../src/transfer/pod-outcome.js';
import { decodeProgress, type TransferProgress } from '../../src/transfer/progress.js';
import {
  encodeRequest,
  MOUNTS,
  PROGRESS_PATH,
  PROGRESS_PORT,
  REQUEST_ENV,
  type TransferRequestInput,
} from '../../src/transfer/request.js';
import { transferProcess } from '../../src/transfer/transfer.js';
import { silentLogger } from '../../src/logger.js';
import { decodeResult, EXIT } from '../../src/transfer/result.js';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { craneFor, type Crane } from '../harness/crane.js';
import { installProjectCrds } from '../harness/crds.js';
import { writeDisk, type DiskFile } from '../harness/disks.js';
import { imageDiskSha256 } from '../harness/images.js';
import { startKubeScheduler } from '../harness/kubevirt/real/kube-scheduler.js';
import { until } from '../harness/kubevirt/testing.js';
import { createNodeNetwork, type NodeNetwork } from '../harness/node/netns.js';
import { startRealNode, type RealNode } from '../harness/node/real-node.js';
import type { ManagedProcess } from '../harness/process.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { createNamespace, kubeConfig, kubeconfigPath, kubectl } from '../harness/testbed.js';
import { createCertificateAuthority, type CertificateAuthority } from '../harness/tls.js';

const EXPORTER = 'virt-export-x';
const REPOSITORY = 'vm-images/web-01';
const MiB = 1 << 20;
/** The killed push's disk: large enough that the Pod is still pushing when it is deleted. */
const BIG_DISK_MIB = Number(process.env.SERVERIMAGE_TRANSFER_BIG_DISK_MIB ?? 256);
/**
 * A measurement, not a check (off in npm test): SERVERIMAGE_TRANSFER_BENCH_MIB=1024 pushes a
 * disk of that size in a Pod and through the same code in this process, and prints both.
 */
const BENCH_MIB = Number(process.env.SERVERIMAGE_TRANSFER_BENCH_MIB ?? 0);

let network: NodeNetwork;
let controlPlane: ControlPlane;
let previousKubeconfig: string | undefined;
let node: RealNode;
let registry: TestRegistry;
let crane: Crane;
let core: k8s.CoreV1Api;
let ns: string;
let diskDir: string;
let exportCa: CertificateAuthority;
let exporterIP: string;
let owner: TransferOwner;
const disks: Record<string, DiskFile> = {};

beforeAll(async () => {
  previousKubeconfig = process.env.SERVERIMAGE_TESTBED_KUBECONFIG;
  network = await createNodeNetwork();
  controlPlane = await startControlPlane({ address: network.hostIp, serviceCidr: network.serviceCidr });
  process.env.SERVERIMAGE_TESTBED_KUBECONFIG = controlPlane.kubeconfigPath;
  core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  await installProjectCrds();
  ns = await createNamespace('transfer');
  diskDir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-transfer-disks-'));
  chmodSync(diskDir, 0o755);
  node = await startRealNode({
    nodeName: `real-node-${randomBytes(3).toString('hex')}`,
    kubeconfigPath: kubeconfigPath(),
    images: ['exporter', 'operator'],
    network,
  });
  const sizes = {
    rootdisk: 40 * MiB,
    datadisk: 8 * MiB,
    bigdisk: BIG_DISK_MIB * MiB,
    ...(BENCH_MIB > 0 ? { benchdisk: BENCH_MIB * MiB } : {}),
  };
  for (const [name, size] of Object.entries(sizes)) {
    const dir = path.join(diskDir, name);
    mkdirSync(dir, { mode: 0o755 });
    // The big one mostly text: slow enough to compress that it is caught mid-push.
    const mix = name === 'bigdisk' ? { randomFraction: 0.25, textFraction: 0.75 } : {};
    disks[name] = await writeDisk(path.join(dir, 'disk.img'), { size, seed: `transfer-${name}`, ...mix });
    chmodSync(path.join(dir, 'disk.img'), 0o644);
  }
  await createExportSecrets();
  exporterIP = await startExporter(Object.keys(sizes));
  registry = await startRegistry({ auth: 'basic', tls: true, proxy: false, address: network.hostIp });
  crane = await craneFor(registry);
  await createRegistrySecrets();
  owner = await createServerImage();
}, 300_000);

afterAll(async () => {
  await node?.stop();
  await registry?.stop();
  crane?.cleanup();
  await controlPlane?.stop();
  await network?.remove();
  if (previousKubeconfig === undefined) delete process.env.SERVERIMAGE_TESTBED_KUBECONFIG;
  else process.env.SERVERIMAGE_TESTBED_KUBECONFIG = previousKubeconfig;
  rmSync(diskDir, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function createExportSecrets() {
  exportCa = createCertificateAuthority('export-ca');
  // Also every address of the Pod network, for the bench's reads from the host by Pod IP.
  const prefix = network.podSubnet.replace(/0\/24$/, '');
  const serving = exportCa.issue({
    commonName: EXPORTER,
    dnsNames: [EXPORTER],
    ipAddresses: Array.from({ length: 254 }, (_, i) => `${prefix}${i + 1}`),
    usage: 'server',
  });
  const secrets: k8s.V1Secret[] = [
    {
      metadata: { name: 'exporter-cert' },
      data: { 'tls.crt': b64(serving.certPem), 'tls.key': b64(serving.keyPem) },
    },
    { metadata: { name: 'export-token' }, data: { token: b64(randomBytes(16).toString('hex')) } },
  ];
  for (const body of secrets) await core.createNamespacedSecret({ namespace: ns, body });
}

async function createRegistrySecrets() {
  const secrets: k8s.V1Secret[] = [
    {
      metadata: { name: 'regcred' },
      type: 'kubernetes.io/dockerconfigjson',
      data: {
        '.dockerconfigjson': b64(
          JSON.stringify({
            auths: { [registry.host]: { auth: b64(`${registry.username}:${registry.password}`) } },
          }),
        ),
      },
    },
    { metadata: { name: 'registry-ca' }, data: { 'ca.crt': b64(registry.caPem!) } },
    {
      metadata: { name: 'wrongcred' },
      type: 'kubernetes.io/basic-auth',
      data: { username: b64(registry.username!), password: b64('not-the-password') },
    },
  ];
  for (const body of secrets) await core.createNamespacedSecret({ namespace: ns, body });
}

/** KubeVirt's exporter, one volume per disk, as real-node.test.ts runs it; returns its Pod IP. */
async function startExporter(volumes: string[]): Promise<string> {
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: EXPORTER },
      spec: {
        nodeName: node.nodeName,
        restartPolicy: 'Never',
        containers: [
          {
            name: 'exporter',
            image: node.image('exporter'),
            imagePullPolicy: 'Never',
            env: [
              { name: 'POD_NAME', value: EXPORTER },
              { name: 'CERT_FILE', value: '/cert/tls.crt' },
              { name: 'KEY_FILE', value: '/cert/tls.key' },
              { name: 'TOKEN_FILE', value: '/token/token' },
              ...volumes.flatMap((v, i) => [
                { name: `VOLUME${i}_EXPORT_PATH`, value: `/export-volumes/${v}` },
                { name: `VOLUME${i}_EXPORT_RAW_URI`, value: `/volumes/${v}/disk.img` },
                { name: `VOLUME${i}_EXPORT_RAW_GZIP_URI`, value: `/volumes/${v}/disk.img.gz` },
              ]),
            ],
            readinessProbe: {
              httpGet: { path: '/exportready', port: 8443, scheme: 'HTTPS' },
              periodSeconds: 1,
            },
            volumeMounts: [
              { name: 'cert', mountPath: '/cert' },
              { name: 'token', mountPath: '/token' },
              ...volumes.map((v) => ({ name: v, mountPath: `/export-volumes/${v}` })),
            ],
          },
        ],
        volumes: [
          { name: 'cert', secret: { secretName: 'exporter-cert' } },
          { name: 'token', secret: { secretName: 'export-token' } },
          ...volumes.map((v) => ({ name: v, hostPath: { path: path.join(diskDir, v), type: 'Directory' } })),
        ],
      },
    },
  });
  const pod = await until(
    'exporter Pod Ready',
    async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: EXPORTER });
      if (p.status?.phase === 'Failed') throw new Error(`exporter Pod failed: ${JSON.stringify(p.status)}`);
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && p;
    },
    120_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nkubelet log:\n${node.kubelet.tail(30)}`);
  });
  return pod.status!.podIP!;
}

/** A real ServerImage to own the Pods (no operator runs here: it only stays Pending). */
async function createServerImage(): Promise<TransferOwner> {
  const custom = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  const created = (await custom.createNamespacedCustomObject({
    group: 'serverimage.io',
    version: 'v1alpha1',
    plural: 'serverimages',
    namespace: ns,
    body: {
      apiVersion: 'serverimage.io/v1alpha1',
      kind: 'ServerImage',
      metadata: { name: 'web-01-nightly' },
      spec: {
        serverRef: { name: 'web-01' },
        registry: {
          repository: `${registry.host}/${REPOSITORY}`,
          credentialsSecretRef: { name: 'regcred' },
          caBundleSecretRef: { name: 'registry-ca' },
        },
      },
    },
  })) as TransferOwner;
  return created;
}

function request(volumes: string[], tag: string): TransferRequestInput {
  return {
    version: 1,
    repository: `${registry.host}/${REPOSITORY}`,
    exportCaPem: exportCa.certPem,
    volumes: volumes.map((volume) => ({
      volume,
      tag: `${tag}-${volume}`,
      url: `https://${EXPORTER}:8443/volumes/${volume}/disk.img`,
    })),
    format: { compression: 'zstd', disk: 'raw', layout: 'containerDisk' },
    imageName: 'web-01 nightly',
    sourceVm: { namespace: ns, name: 'web-01', uid: 'vm-uid' },
    created: '2026-12-05T10:00:00Z',
    progressIntervalMs: 200,
  };
}

/** The builder's Pod, plus what the bed stands in for: the scheduler's nodeName, the DNS name. */
async function runTransferPod(
  attempt: number,
  req: TransferRequestInput,
  podOwner: TransferOwner = owner,
  flags: string[] = [],
  bed: { schedulerName?: string } = {},
): Promise<k8s.V1Pod> {
  const pod = transferPod({
    owner: podOwner,
    attempt,
    request: req,
    exportTokenSecret: 'export-token',
    exporterNode: node.nodeName,
    settings: loadConfig(
      [`--transfer-image=${node.image('operator')}`, '--transfer-cpu-request=100m', ...flags],
      {},
    ),
  });
  if (bed.schedulerName) pod.spec!.schedulerName = bed.schedulerName;
  else pod.spec!.nodeName = node.nodeName;
  pod.spec!.hostAliases = [{ ip: exporterIP, hostnames: [EXPORTER] }];
  return core.createNamespacedPod({ namespace: ns, body: pod });
}

function getProgress(ip: string): Promise<TransferProgress | undefined> {
  return new Promise((resolve) => {
    http
      .get({ host: ip, port: PROGRESS_PORT, path: PROGRESS_PATH, timeout: 1000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(decodeProgress(Buffer.concat(chunks).toString())));
      })
      .on('error', () => resolve(undefined))
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy();
      });
  });
}

const readPod = (name: string) => core.readNamespacedPod({ namespace: ns, name });

/** Opens an upload session as a killed predecessor would have left it; returns its Location. */
function openUploadSession(): Promise<string> {
  return new Promise((resolve, reject) => {
    const [hostname, port] = registry.host.split(':');
    https
      .request(
        {
          hostname,
          port,
          method: 'POST',
          path: `/v2/${REPOSITORY}/blobs/uploads/`,
          ca: registry.caPem,
          auth: `${registry.username}:${registry.password}`,
          headers: { 'content-length': '0' },
        },
        (res) => {
          res.resume();
          const location = res.headers.location;
          if (res.statusCode === 202 && location) resolve(new URL(location, registry.url).toString());
          else reject(new Error(`POST upload: ${res.statusCode}`));
        },
      )
      .on('error', reject)
      .end();
  });
}

it('pushes two volumes from a real exporter Pod: bytes exact, digests in the termination message, a stale session cancelled', async () => {
  // A predecessor's session, handed over in the request: cancelled before anything else.
  const stale = await openUploadSession();
  expect(registry.openUploads(REPOSITORY)).toHaveLength(1);
  const created = await runTransferPod(1, {
    ...request(['rootdisk', 'datadisk'], 'nightly'),
    staleUploadSession: stale,
  });
  const name = created.metadata!.name!;
  expect(created.spec?.automountServiceAccountToken).toBe(false);
  const readings: TransferProgress[] = [];
  const started = Date.now();
  const done = await until(
    'transfer Pod ended',
    async () => {
      const pod = await readPod(name);
      if (pod.status?.podIP && pod.status.phase === 'Running') {
        const p = await getProgress(pod.status.podIP);
        if (p) readings.push(p);
      }
      return (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') && pod;
    },
    120_000,
  );
  const seconds = (Date.now() - started) / 1000;
  const terminated = done.status!.containerStatuses![0]!.state!.terminated!;
  const result = decodeResult(terminated.message);
  if (!result?.succeeded)
    throw new Error(
      `transfer failed (${terminated.exitCode}): ${terminated.message}\n${node.kubelet.tail(20)}`,
    );
  expect(done.status!.phase).toBe('Succeeded');
  expect(terminated.exitCode).toBe(EXIT.ok);
  // The kubelet ran it, on the exporter's node.
  expect(done.spec!.nodeName).toBe(node.nodeName);
  expect(
    (done.metadata?.managedFields ?? []).some((f) => f.manager === 'kubelet' && f.subresource === 'status'),
  ).toBe(true);

  expect(result.volumes.map((v) => v.volume)).toEqual(['rootdisk', 'datadisk']);
  for (const pushed of result.volumes) {
    const ref = `${registry.host}/${REPOSITORY}:nightly-${pushed.volume}`;
    expect(await crane.digest(ref)).toBe(pushed.digest);
    expect(pushed.size).toBe(disks[pushed.volume]!.size);
    expect(await imageDiskSha256(crane, ref)).toBe(disks[pushed.volume]!.sha256);
    const manifest = await crane.manifest(ref);
    expect((manifest.layers as { mediaType: string; digest: string }[])[0]).toMatchObject({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
      digest: pushed.layerDigest,
    });
  }
  expect(result.peakRssBytes).toBeGreaterThan(0);
  for (const reading of readings)
    expect(reading.volumes.map((v) => v.volume)).toEqual(['rootdisk', 'datadisk']);
  console.log(
    `transfer Pod: ${seconds.toFixed(1)} s from creation to Succeeded for ${(disks.rootdisk!.size + disks.datadisk!.size) / MiB} MiB; ` +
      `peak RSS ${((result.peakRssBytes ?? 0) / MiB).toFixed(0)} MiB (cgroup ${((result.cgroupPeakBytes ?? 0) / MiB).toFixed(0)} MiB); ${readings.length} progress readings`,
  );
  expect(registry.openUploads()).toEqual([]);
}, 180_000);

it("the transfer Pod passes the API server's restricted Pod Security Standard", async () => {
  const restricted = await createNamespace('transfer-restricted');
  const labelled = await kubectl([
    'label',
    'namespace',
    restricted,
    'pod-security.kubernetes.io/enforce=restricted',
  ]);
  expect(labelled.code).toBe(0);
  const pod = transferPod({
    owner: { ...owner, metadata: { ...owner.metadata, namespace: restricted } },
    attempt: 1,
    request: request(['rootdisk'], 'restricted'),
    exportTokenSecret: 'export-token',
    settings: loadConfig([`--transfer-image=${node.image('operator')}`], {}),
  });
  // Refused with a message naming the violation if the Pod did not pass.
  const admitted = await core.createNamespacedPod({ namespace: restricted, body: pod, dryRun: 'All' });
  expect(admitted.metadata?.name).toBe(pod.metadata?.name);
  // The check is on: a Pod without the security contexts is refused there.
  const bare = { ...pod, spec: { ...pod.spec!, securityContext: undefined } };
  bare.spec.containers = [{ ...pod.spec!.containers[0]!, securityContext: undefined }];
  await expect(
    core.createNamespacedPod({ namespace: restricted, body: bare, dryRun: 'All' }),
  ).rejects.toThrow(/violates PodSecurity .*restricted/);
});

it('a registry that refuses the credentials: Failed, exit 65, the reason in words', async () => {
  const wrong = {
    ...owner,
    spec: { registry: { ...owner.spec.registry, credentialsSecretRef: { name: 'wrongcred' } } },
  };
  const created = await runTransferPod(3, request(['datadisk'], 'refused'), wrong);
  const done = await until(
    'transfer Pod ended',
    async () => {
      const pod = await readPod(created.metadata!.name!);
      return (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') && pod;
    },
    120_000,
  );
  expect(done.status!.phase).toBe('Failed');
  const terminated = done.status!.containerStatuses![0]!.state!.terminated!;
  expect(terminated.exitCode).toBe(EXIT.permanent);
  const result = decodeResult(terminated.message)!;
  expect(result).toMatchObject({
    succeeded: false,
    volumes: [],
    error: { reason: 'RegistryUnauthorized', retryable: false },
  });
  expect(result.error!.message).toContain(registry.host);
  expect(result.error!.message).not.toMatch(/\n\s+at |not-the-password/);
  expect(registry.openUploads()).toEqual([]);
}, 120_000);

it('a Pod deleted mid-push stops on SIGTERM and cancels its upload session', async () => {
  const created = await runTransferPod(2, request(['bigdisk'], 'killed'));
  const name = created.metadata!.name!;
  // Mid-push: the progress endpoint shows an open session with bytes moving.
  const reading = await until(
    'an upload session open, bytes moving',
    async () => {
      const pod = await readPod(name);
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed')
        throw new Error(`the transfer ended before it could be stopped: ${pod.status.phase}`);
      const ip = pod.status?.podIP;
      const p = ip ? await getProgress(ip) : undefined;
      return p?.uploadSession !== undefined && p.volumes[0]!.bytesDone >= 16 * MiB ? p : undefined;
    },
    120_000,
  );
  expect(reading.state).toBe('running');
  expect(reading.volumes[0]!.bytesTotal).toBe(disks.bigdisk!.size);
  expect(registry.openUploads(REPOSITORY)).toHaveLength(1);

  // The kubelet's last status of the Pod (its container's exit) comes just before the Pod goes.
  let terminated: k8s.V1ContainerStateTerminated | undefined;
  const watching = await new k8s.Watch(kubeConfig()).watch(
    `/api/v1/namespaces/${ns}/pods`,
    { fieldSelector: `metadata.name=${name}` },
    (_type: string, pod: k8s.V1Pod) => {
      terminated = pod.status?.containerStatuses?.[0]?.state?.terminated ?? terminated;
    },
    () => undefined,
  );
  const deleted = Date.now();
  await core.deleteNamespacedPod({ namespace: ns, name });
  await until('the transfer Pod gone', async () => !(await readPod(name).catch(() => undefined)), 60_000);
  watching.abort();
  const stoppedIn = (Date.now() - deleted) / 1000;
  // Stopped by its own hand, well within the grace period (a SIGKILL would leave the session).
  expect(stoppedIn).toBeLessThan(25);
  expect(registry.openUploads(REPOSITORY)).toEqual([]);
  expect((await crane.run(['digest', `${registry.host}/${REPOSITORY}:killed-bigdisk`])).code).not.toBe(0);
  expect(terminated?.exitCode).toBe(EXIT.terminated);
  const result = decodeResult(terminated?.message);
  expect(result?.error).toEqual({
    reason: 'TransferCancelled',
    message: 'the transfer Pod was stopped (SIGTERM)',
    retryable: true,
  });
  expect(result?.uploadSession).toBeUndefined();
  console.log(
    `deleted mid-push at ${reading.volumes[0]!.bytesDone} bytes; Pod gone in ${stoppedIn.toFixed(1)} s`,
  );
}, 180_000);

// Registered only when asked for: a measurement has nothing to assert in npm test.
if (BENCH_MIB > 0)
  it(`bench: ${BENCH_MIB} MiB in a Pod and in this process`, async () => {
    const req = (tag: string, created: string, host: string) => ({
      ...request(['benchdisk'], tag),
      created,
      volumes: [{ volume: 'benchdisk', tag, url: `https://${host}:8443/volumes/benchdisk/disk.img` }],
    });
    const started = Date.now();
    const created = await runTransferPod(9, req('bench-pod', '2026-12-05T11:00:00Z', EXPORTER));
    const done = await until(
      'bench Pod ended',
      async () => {
        const pod = await readPod(created.metadata!.name!);
        return (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') && pod;
      },
      600_000,
    );
    const podWall = (Date.now() - started) / 1000;
    const inPod = decodeResult(done.status!.containerStatuses![0]!.state!.terminated!.message)!;
    expect(inPod.succeeded).toBe(true);

    // The same transfer through the same code, in this process (the operator's way today).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-transfer-mounts-'));
    const secret = async (name: string, key: string) =>
      Buffer.from((await core.readNamespacedSecret({ namespace: ns, name })).data![key]!, 'base64');
    const mounts = {
      exportToken: path.join(dir, 'export-token'),
      registryCredentials: path.join(dir, 'registry-credentials'),
      registryCa: path.join(dir, 'registry-ca'),
    };
    for (const [folder, file, content] of [
      [mounts.exportToken, 'token', await secret('export-token', 'token')],
      [mounts.registryCredentials, '.dockerconfigjson', await secret('regcred', '.dockerconfigjson')],
      [mounts.registryCa, 'ca.crt', await secret('registry-ca', 'ca.crt')],
    ] as const) {
      mkdirSync(folder);
      writeFileSync(path.join(folder, file), content);
    }
    const t0 = Date.now();
    const here = await transferProcess({
      env: { [REQUEST_ENV]: encodeRequest(req('bench-process', '2026-12-05T12:00:00Z', exporterIP)) },
      signal: new AbortController().signal,
      log: silentLogger,
      mounts: mounts as typeof MOUNTS,
      progressPort: 0,
    });
    const processWall = (Date.now() - t0) / 1000;
    rmSync(dir, { recursive: true, force: true });
    expect(here.succeeded).toBe(true);
    const a = inPod.volumes[0]!;
    const b = here.volumes[0]!;
    console.log(
      [
        `bench ${BENCH_MIB} MiB zstd:`,
        `  Pod: push ${a.seconds} s (${(a.size / MiB / a.seconds!).toFixed(0)} MiB/s), ${podWall.toFixed(1)} s from creation to Succeeded, peak RSS ${((inPod.peakRssBytes ?? 0) / MiB).toFixed(0)} MiB (cgroup ${((inPod.cgroupPeakBytes ?? 0) / MiB).toFixed(0)} MiB), layer ${((a.layerSize ?? 0) / MiB).toFixed(0)} MiB`,
        `  in process: push ${b.seconds} s (${(b.size / MiB / b.seconds!).toFixed(0)} MiB/s), ${processWall.toFixed(1)} s`,
      ].join('\n'),
    );
  }, 900_000);

// Failures in the Pod's words: what the real kernel, kubelet and kube-scheduler write into
// the Pod's status, read by pod-outcome.ts. SERVERIMAGE_TRANSFER_CAPTURE=DIR keeps each
// Pod as the API server returned it (the unit tests' fixtures came from such a run).
describe("failures in the Pod's words", () => {
  const SCHEDULER = 'serverimage-transfer-test';
  let scheduler: ManagedProcess | undefined;
  let logs: string;

  beforeAll(async () => {
    logs = mkdtempSync(path.join(os.tmpdir(), 'serverimage-transfer-scheduler-'));
    // The real kube-scheduler, for Pods that name it only (the control plane is shared).
    scheduler = await startKubeScheduler({
      kubeconfigPath: kubeconfigPath(),
      dir: logs,
      schedulerName: SCHEDULER,
    });
  });
  afterAll(async () => {
    await scheduler?.stop();
    rmSync(logs, { recursive: true, force: true });
  });

  function capture(what: string, pod: k8s.V1Pod): void {
    const dir = process.env.SERVERIMAGE_TRANSFER_CAPTURE;
    if (dir) writeFileSync(path.join(dir, `${what}.json`), `${JSON.stringify(pod, null, 2)}\n`);
  }

  it('a tiny memory limit: OOM-killed by the kernel, the outcome names the limit and the setting', async () => {
    const created = await runTransferPod(11, request(['rootdisk'], 'oom'), owner, [
      '--transfer-memory-request=24Mi',
      '--transfer-memory-limit=24Mi',
    ]);
    const done = await until(
      'transfer Pod ended',
      async () => {
        const pod = await readPod(created.metadata!.name!);
        return (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') && pod;
      },
      60_000,
    );
    capture('oomkilled', done);
    const terminated = done.status!.containerStatuses![0]!.state!.terminated!;
    expect(terminated.reason).toBe('OOMKilled');
    const outcome = transferPodOutcome(done, { now: Date.now() });
    expect(outcome).toMatchObject({ state: 'failed', reason: PodFailure.OOMKilled, retryable: true });
    const message = (outcome as { message: string }).message;
    expect(message).toContain('limit of 24Mi');
    expect(message).toContain('--transfer-memory-limit');
    expect(message).toContain('transfer.resources.limits.memory');
    console.log(`OOMKilled: exit ${terminated.exitCode}; ${message}`);
  }, 90_000);

  it("a nodeSelector no node matches: Unschedulable in the real kube-scheduler's words", async () => {
    const created = await runTransferPod(
      12,
      request(['datadisk'], 'unschedulable'),
      owner,
      ['--transfer-node-selector=serverimage.io/backup-node=none'],
      { schedulerName: SCHEDULER },
    );
    const name = created.metadata!.name!;
    const pod = await until(
      'the scheduler to say Unschedulable',
      async () => {
        const p = await readPod(name);
        const c = p.status?.conditions?.find((x) => x.type === 'PodScheduled');
        return c?.status === 'False' && c.reason === 'Unschedulable' && p;
      },
      30_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nkube-scheduler log:\n${scheduler!.tail(20)}`);
    });
    capture('unschedulable', pod);
    const c = pod.status!.conditions!.find((x) => x.type === 'PodScheduled')!;
    expect(c.message).toMatch(/^0\/\d+ nodes are available: .*didn't match Pod's node affinity\/selector/);
    const since = new Date(c.lastTransitionTime!).getTime();
    // Within the grace: pending, with the scheduler's words.
    expect(transferPodOutcome(pod, { now: since + 1000 })).toEqual({
      state: 'pending',
      reason: 'Unschedulable',
      message: `the transfer Pod ${ns}/${name} cannot be scheduled: ${c.message}`,
    });
    const outcome = transferPodOutcome(pod, { now: since + UNSCHEDULABLE_GRACE_MS });
    expect(outcome).toMatchObject({ state: 'failed', reason: PodFailure.Unschedulable, retryable: false });
    expect((outcome as { message: string }).message).toContain(c.message!);
    expect((outcome as { message: string }).message).toContain('--transfer-node-selector');
    console.log(`Unschedulable: ${c.message}`);
    await core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
  }, 60_000);

  it('evicted mid-push (a node drain): the outcome says evicted, with the session the Pod cancelled', async () => {
    const created = await runTransferPod(14, request(['bigdisk'], 'evicted'));
    const name = created.metadata!.name!;
    await until(
      'bytes moving',
      async () => {
        const pod = await readPod(name);
        const ip = pod.status?.podIP;
        const p = ip ? await getProgress(ip) : undefined;
        return p?.uploadSession !== undefined && p.volumes[0]!.bytesDone > 0;
      },
      60_000,
    );
    let last: k8s.V1Pod | undefined;
    const watching = await new k8s.Watch(kubeConfig()).watch(
      `/api/v1/namespaces/${ns}/pods`,
      { fieldSelector: `metadata.name=${name}` },
      (_type: string, pod: k8s.V1Pod) => {
        last = pod;
      },
      () => undefined,
    );
    await core.createNamespacedPodEviction({
      namespace: ns,
      name,
      body: { metadata: { name, namespace: ns } },
    });
    await until('the transfer Pod gone', async () => !(await readPod(name).catch(() => undefined)), 60_000);
    watching.abort();
    capture('evicted', last!);
    const outcome = transferPodOutcome(last!, { now: Date.now() });
    expect(outcome).toMatchObject({
      state: 'failed',
      reason: PodFailure.Evicted,
      retryable: true,
      exitCode: EXIT.terminated,
      result: { error: { reason: 'TransferCancelled' } },
    });
    expect((outcome as { message: string }).message).toMatch(
      /was stopped: evicted \(a node drain, or the Eviction API\): /,
    );
    expect(registry.openUploads(REPOSITORY)).toEqual([]);
    console.log(`evicted: ${(outcome as { message: string }).message}`);
  }, 90_000);

  it("an image that does not exist: the kubelet's pull error", async () => {
    const images = await startRegistry({ proxy: false });
    try {
      const image = `${images.host}/serverimage/no-such-image:0.0.0`;
      const body = transferPod({
        owner,
        attempt: 13,
        request: request(['datadisk'], 'pull'),
        exportTokenSecret: 'export-token',
        settings: loadConfig([`--transfer-image=${image}`], {}),
      });
      body.spec!.nodeName = node.nodeName;
      const name = (await core.createNamespacedPod({ namespace: ns, body })).metadata!.name!;
      const pod = await until(
        'the kubelet to report the pull failure',
        async () => {
          const p = await readPod(name);
          const reason = p.status?.containerStatuses?.[0]?.state?.waiting?.reason;
          return (reason === 'ErrImagePull' || reason === 'ImagePullBackOff') && p;
        },
        30_000,
      );
      capture('image-pull', pod);
      const waiting = pod.status!.containerStatuses![0]!.state!.waiting!;
      expect(waiting.message).toContain(image);
      const outcome = transferPodOutcome(pod, { now: Date.now() });
      expect(outcome).toMatchObject({ state: 'failed', reason: PodFailure.ImagePull, retryable: true });
      expect((outcome as { message: string }).message).toContain(waiting.message!);
      console.log(`image pull: ${waiting.reason}: ${waiting.message}`);
      await core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
    } finally {
      await images.stop();
    }
  }, 60_000);
});
