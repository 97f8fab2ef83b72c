// Restart safety on KubeVirt's real virt-controller v1.8.4: the operator process is
// SIGKILLed in the middle of Saving and a new one finishes the work, with no duplicate
// snapshot or export, no volume pushed twice and no upload session left open; one killed
// while an image retries continues the same retry budget (status.retry), not a fresh one;
// and of two leader-elected replicas, the standby finishes what the killed leader started,
// pushing once. Each operator process resolves the exporter's Service name through the
// bed's cluster DNS (kubevirt/real/cluster-dns.ts); the snapshot and export a successor
// finds again are KubeVirt's, its exporter Pod a container on the bed's real node, and
// the pacing fault acts at the Service proxy.
import { CoordinationV1Api } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM_EXPORT, VM_SNAPSHOT, type Obj, type Resource } from '../harness/kubevirt/api.js';
import { until } from '../harness/kubevirt/testing.js';
import { startOperatorProcess, startProbedOperatorProcess } from '../harness/operator.js';
import { freePort } from '../harness/ports.js';
import type { ManagedProcess } from '../harness/process.js';
import { kubeConfig } from '../harness/testbed.js';
import {
  expectStatusByKubelet,
  expectStatusByVirtController,
  recordManagers,
  recordPodStatus,
} from './field-managers.js';
import {
  SERVERIMAGE,
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  waitForPhase,
  serverImageTestFile,
} from './serverimage-fixtures.js';

const bed = serverImageTestFile({
  namespace: 'si-restart',
  // The exporter Pods run on the bed's real node (the fixture's default).
  operatorFlags: null,
});
/** A real exporter Pod is Ready only after its probe's 5 s delay: the test flags' 5 s is too short. */
const EXPORT_TIMEOUT = '--export-timeout=60s';

let recorder: ReturnType<typeof recordManagers>;
beforeAll(async () => {
  recorder = recordManagers(bed.ns);
  await recorder.start();
});
afterAll(() => recorder?.stop());

const processes: ManagedProcess[] = [];
// Only the bed's namespace, as a namespaced install watches it.
const watchOwn = () => `--watch-namespaces=${bed.ns}`;
const operator = (name: string, flags: string[] = []) => {
  const proc = startOperatorProcess([watchOwn(), EXPORT_TIMEOUT, ...flags], name);
  processes.push(proc);
  return proc;
};

afterEach(async () => {
  for (const p of processes.splice(0)) await p.stop();
});

/** UIDs of every object of `r` in the namespace seen while `during` runs (sampled). */
function collectUids(r: Resource) {
  const uids = new Set<string>();
  const timer = setInterval(() => {
    void bed.client.custom
      .listNamespacedCustomObject({ ...r, namespace: bed.ns })
      .then((list) => (list as { items: Obj[] }).items.forEach((o) => uids.add(o.metadata.uid)))
      .catch(() => undefined);
  }, 50);
  return { uids, stop: () => clearInterval(timer) };
}

test('SIGKILL during Saving: the transfer Pod goes on, a new operator process adopts it and finishes the image', async () => {
  const { client, registry, crane, ns } = bed;
  const MiB = 1024 * 1024;
  const shas = await createVm(client, ns, 'crashy', {
    disks: [
      { volume: 'rootdisk', size: MiB },
      { volume: 'data', size: 2 * MiB },
    ],
    annotations: { [Ann.faultBytesPerSecond]: String(256 * 1024) },
  });
  const snapshots = collectUids(VM_SNAPSHOT);
  const exports = collectUids(VM_EXPORT);
  const exporterPods = recordPodStatus(ns, 'virt-export-');
  await exporterPods.start();

  const transferPods = new Set<string>();
  const podTimer = setInterval(() => {
    void client.core
      .listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/component=transfer' })
      .then((list) => list.items.forEach((p) => transferPods.add(p.metadata!.name!)))
      .catch(() => undefined);
  }, 50);

  const first = operator('first');
  await createServerImage(client, serverImage(ns, 'crashy-image', 'crashy', registry));
  // Kill while the second volume is on its way (the transfer Pod's progress, polled by the
  // operator): the first is pushed, an upload is open.
  await until(
    'the second volume under way',
    async () => {
      const si = await client.get(SERVERIMAGE, ns, 'crashy-image');
      return si?.status?.progress?.bytesDone > 1.25 * MiB ? si : undefined;
    },
    120_000,
  );
  await first.stop('SIGKILL');
  // The transfer is not the operator's process: its Pod pushes on.
  expect(registry.openUploads().length).toBe(1);
  const [running] = (
    await client.core.listNamespacedPod({
      namespace: ns,
      labelSelector: 'app.kubernetes.io/component=transfer',
    })
  ).items;
  expect(running?.status?.phase).toBe('Running');
  // The bytes came through the node's kube-proxy (the fault proxy dials the Service's
  // ClusterIP): its DNAT to the exporter Pod has counted the connections.
  const node = bed.sim.realNode!;
  const exporter = (await client.core.listNamespacedPod({ namespace: ns })).items.find((p) =>
    p.metadata?.name?.startsWith('virt-export-'),
  );
  const { stdout: rules } = await promisify(execFile)('nsenter', [
    `--net=${node.network.path}`,
    '--',
    'iptables-save',
    '-c',
    '-t',
    'nat',
  ]);
  const dnat = rules.split('\n').find((l) => l.includes(`--to-destination ${exporter?.status?.podIP}:8443`));
  expect(dnat).toMatch(/^\[[1-9]\d*:\d+\]/);
  operator('second');
  const si = await waitForPhase(client, ns, 'crashy-image', 'Active', 90_000).catch((err) => {
    console.log(registry.requests.map((r) => `${r.method} ${r.path} ${r.status}`).join('\n'));
    throw err;
  });
  snapshots.stop();
  exports.stop();
  clearInterval(podTimer);
  await exporterPods.stop();

  // The one exporter Pod both processes read ran on the real node: its status is the kubelet's.
  expectStatusByKubelet(exporterPods.seen(), bed.sim.realNode!.nodeName);
  // One transfer, adopted: the same Pod the first process made, never a second.
  expect([...transferPods]).toEqual([running!.metadata!.name]);
  expect(si.status.images.map((i: { volume: string }) => i.volume)).toEqual(['rootdisk', 'data']);
  expect(await imageDiskSha256(crane, si.status.images[0].reference)).toBe(shas.rootdisk);
  expect(await imageDiskSha256(crane, si.status.images[1].reference)).toBe(shas.data);
  // Each volume went up once: its layer and its config (4), plus the precondition's probe
  // session and the VM artifact's two blobs (its empty config and the VM definition).
  const posts = registry.requests.filter((r) => r.method === 'POST').length;
  expect(posts).toBe(7);
  expect(snapshots.uids.size).toBe(1);
  expect(exports.uids.size).toBe(1);
  expect(si.metadata.annotations?.['serverimage.io/upload-session']).toBeUndefined();
  await expectNothingLeftBehind(client, ns, [registry]);
});

test('an operator restarted while an image retries counts the deadline from the first failure', async () => {
  const { client, registry, ns } = bed;
  const RETRY_TIMEOUT_MS = 20_000;
  const flags = [watchOwn(), EXPORT_TIMEOUT, `--registry-retry-timeout=${RETRY_TIMEOUT_MS / 1000}s`];
  /**
   * An operator process, once it serves /readyz (its informers synced): when it is up is
   * what its timing is measured from. Starting one (tsx compiles src/) took 3-5 s here, and
   * ~20 s on a machine at load 12-16: an image's deadline that passed meanwhile ends at the
   * successor's first attempt, which "since + timeout" alone does not allow for.
   */
  const readyOperator = async (name: string) => {
    const r = await startProbedOperatorProcess(name, flags);
    processes.push(r.process);
    await until(
      `${name} ready`,
      async () => (await r.probe('/readyz').catch(() => undefined))?.status === 200,
      60_000,
    );
    return { process: r.process, upAt: Date.now() };
  };
  await createVm(client, ns, 'patient');
  const deadPort = await freePort();
  const first = await readyOperator('retrying-first');
  await createServerImage(
    client,
    serverImage(ns, 'patient-image', 'patient', registry, {
      registry: { repository: `127.0.0.1:${deadPort}/vms/patient`, insecure: true },
    }),
  );
  const retrying = await until(
    'the registry precondition to have failed twice',
    async () => {
      const si = await client.get(SERVERIMAGE, ns, 'patient-image');
      return (si?.status?.retry?.attempts ?? 0) >= 2 ? si : undefined;
    },
    30_000,
  );
  const since = new Date(retrying.status.retry.since).getTime();
  // Let a good part of the budget pass, then kill the operator and start another.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, since + 8000 - Date.now())));
  await first.process.stop('SIGKILL');
  const second = await readyOperator('retrying-second');

  const si = await waitForPhase(client, ns, 'patient-image', 'Error', 60_000);
  const failedAt = new Date(si.status.completionTime).getTime();
  expect(si.status.conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({
    reason: 'RegistryUnavailable',
  });
  // Counted from the first failure (status.retry.since), not from the successor's start:
  // the error comes at since + timeout, or at the successor's first attempt if it came up
  // later (an attempt against a closed port and a status write take well under 3 s), and
  // well before a fresh budget would end (second.upAt + timeout).
  expect(failedAt - since).toBeGreaterThanOrEqual(RETRY_TIMEOUT_MS - 1000);
  expect(failedAt).toBeLessThan(Math.max(since + RETRY_TIMEOUT_MS, second.upAt) + 3000);
  expect(failedAt).toBeLessThan(second.upAt + RETRY_TIMEOUT_MS - 4000);
  const message = si.status.conditions.find((c: { type: string }) => c.type === 'Ready').message as string;
  const gaveUpAfter = Number(/gave up after (\d+)s/.exec(message)?.[1]);
  expect(gaveUpAfter).toBeGreaterThanOrEqual(RETRY_TIMEOUT_MS / 1000 - 1);
  expect(gaveUpAfter).toBeLessThanOrEqual(Math.ceil((failedAt - since) / 1000) + 1);
  await expectNothingLeftBehind(client, ns, [registry]);
});

test('two replicas with leader election: one works; SIGKILL it and the other finishes, pushing once', async () => {
  const { client, registry, crane, ns } = bed;
  const election = [
    watchOwn(),
    EXPORT_TIMEOUT,
    '--leader-elect=true',
    `--leader-election-namespace=${ns}`,
    '--leader-election-id=serverimage-ha',
  ];
  const replica = async (name: string) => {
    const r = await startProbedOperatorProcess(name, election);
    processes.push(r.process);
    return r;
  };
  const a = await replica('replica-a');
  const b = await replica('replica-b');
  const leaderOf = async () => {
    const lease = await kubeConfig()
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ namespace: ns, name: 'serverimage-ha' })
      .catch(() => undefined);
    return lease?.spec?.holderIdentity;
  };
  const firstLeader = await until('a leader', leaderOf);
  const [leader, standby] = firstLeader.endsWith(`-${a.process.child.pid}`) ? [a, b] : [b, a];
  await until(
    'both ready',
    async () => (await a.probe('/readyz')).status === 200 && (await b.probe('/readyz')).status === 200,
  );

  const sha = (
    await createVm(client, ns, 'ha', { annotations: { [Ann.faultBytesPerSecond]: String(512 * 1024) } })
  ).rootdisk;
  await createServerImage(client, serverImage(ns, 'ha-image', 'ha', registry));
  await until(
    'the upload under way and its session recorded',
    async () => {
      // A kill between opening the session and recording it would orphan the session:
      // the one window restart safety cannot close (the registry purges it in time).
      const si = await client.get(SERVERIMAGE, ns, 'ha-image');
      return (
        si?.status?.progress?.bytesDone > 0 && si?.metadata.annotations?.['serverimage.io/upload-session']
      );
    },
    30_000,
  );
  expect(readFileSync(standby.process.logFile, 'utf8')).not.toContain('serverimage controller started');

  await leader.process.stop('SIGKILL');
  const killedAt = Date.now();
  await until('the standby to lead', async () => (await leaderOf()) !== firstLeader, 30_000);
  const takeover = Date.now() - killedAt;
  const si = await waitForPhase(client, ns, 'ha-image', 'Active', 90_000);
  expect(takeover).toBeLessThan(30_000);
  expect(await imageDiskSha256(crane, si.status.images[0].reference)).toBe(sha);
  const manifestPuts = registry.requests.filter(
    (r) => r.method === 'PUT' && r.path.startsWith('/v2/vms/ha/manifests/'),
  );
  // Once each: the image under its tag, the VM artifact by digest, its referrers tag (issue 13).
  const bootHex = (si.status.images[0].digest as string).slice('sha256:'.length);
  expect(manifestPuts.map((r) => r.path)).toEqual([
    '/v2/vms/ha/manifests/ha-image',
    `/v2/vms/ha/manifests/${si.status.vmArtifact.digest}`,
    `/v2/vms/ha/manifests/sha256-${bootHex}`,
  ]);
  process.stderr.write(
    `\n[leader election] the standby took over ${takeover} ms after the leader was killed\n`,
  );
  await expectNothingLeftBehind(client, ns, [registry]);
});

test("every snapshot's and export's status above was written by virt-controller only", () => {
  expectStatusByVirtController(recorder);
});
