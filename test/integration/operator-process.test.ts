import { readFileSync } from 'node:fs';
import { CoordinationV1Api } from '@kubernetes/client-node';
// The operator as users run it, a process: probes, metrics that move, and two replicas
// with leader election where the leader is SIGKILLed mid-way and the other finishes.
import { craneFor } from '../harness/crane.js';
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { startOperatorProcess } from '../harness/operator.js';
import { freePort } from '../harness/ports.js';
import type { ManagedProcess } from '../harness/process.js';
import { type TestRegistry } from '../harness/registry.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import {
  SERVERIMAGE,
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  waitForPhase,
  startServerImageBed,
  type ServerImageBed,
} from './serverimage-fixtures.js';

let bed: ServerImageBed;
let registry: TestRegistry;
let client: SimTestClient;
const processes: ManagedProcess[] = [];

beforeAll(async () => {
  bed = await startServerImageBed(null);
  ({ registry, client } = bed);
});

afterAll(async () => {
  for (const p of processes) await p.stop();
  await bed?.stop();
});

async function operator(name: string, flags: string[] = []) {
  const [metricsPort, probePort] = [await freePort(), await freePort()];
  const proc = startOperatorProcess(
    [
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      ...flags,
    ],
    name,
  );
  processes.push(proc);
  const get = async (port: number, path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, text: await res.text() };
  };
  return {
    process: proc,
    metrics: () => get(metricsPort, '/metrics'),
    probe: (path: '/healthz' | '/readyz') => get(probePort, path),
  };
}

/** The value of one sample line of Prometheus text, e.g. 'workqueue_adds_total{name="serverimage",controller="serverimage"}'. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('probes answer and metrics move as an image is made', async () => {
  const ns = await createNamespace('si-process');
  // Only this namespace: objects other test files left behind must not move the counters.
  const op = await operator('metrics', [`--watch-namespaces=${ns}`]);
  await until('healthz', async () => (await op.probe('/healthz')).status === 200);
  await until('readyz', async () => (await op.probe('/readyz')).status === 200);
  const before = (await op.metrics()).text;
  expect(
    sample(before, 'controller_runtime_reconcile_total{controller="serverimage",result="success"}'),
  ).toBe(0);

  const size = 2 * 1024 * 1024;
  await createVm(client, ns, 'measured', { disks: [{ volume: 'rootdisk', size }] });
  await createServerImage(client, serverImage(ns, 'measured-image', 'measured', registry));
  await waitForPhase(client, ns, 'measured-image', 'Active');

  const after = (
    await until('the Active image counted', async () => {
      const m = await op.metrics();
      return sample(m.text, 'serverimage_images{phase="Active",reason="Active"}') === 1 ? m : undefined;
    })
  ).text;
  expect(
    sample(after, 'controller_runtime_reconcile_total{controller="serverimage",result="success"}'),
  ).toBeGreaterThan(3);
  expect(sample(after, 'workqueue_adds_total{name="serverimage",controller="serverimage"}')).toBeGreaterThan(
    3,
  );
  expect(sample(after, 'serverimage_pushed_bytes_total')).toBe(size);
  expect(sample(after, 'serverimage_push_duration_seconds_count')).toBe(1);
  expect(after).toContain('process_resident_memory_bytes');
  await expectNothingLeftBehind(client, ns, [registry]);
  await op.process.stop();
});

test('two replicas with leader election: one works; SIGKILL it and the other finishes, pushing once', async () => {
  const ns = await createNamespace('si-ha');
  const election = [
    '--leader-elect=true',
    `--leader-election-namespace=${ns}`,
    '--leader-election-id=serverimage-ha',
  ];
  const a = await operator('replica-a', election);
  const b = await operator('replica-b', election);
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
  expect(await imageDiskSha256(await craneFor(registry), si.status.images[0].reference)).toBe(sha);
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
