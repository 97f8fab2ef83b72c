// The operator as users run it, a process: probes and metrics that move. Its kills,
// restarts and leader hand-over are serverimage-restart-cases.ts. On KubeVirt's real
// virt-controller: the process reaches the exporter by its Service name through the bed's
// cluster DNS (kubevirt/real/cluster-dns.ts), as serverimage-restart-real-kubevirt does.
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { startProbedOperatorProcess } from '../harness/operator.js';
import type { ManagedProcess } from '../harness/process.js';
import { type TestRegistry } from '../harness/registry.js';
import { createNamespace } from '../harness/testbed.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import {
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
  bed = await startServerImageBed(null, { realKubevirt: true });
  ({ registry, client } = bed);
}, 180_000); // the real-controller bed starts in 12-25 s, more on a loaded machine

afterAll(async () => {
  for (const p of processes) await p.stop();
  await bed?.stop();
});

async function operator(name: string, flags: string[] = []) {
  const op = await startProbedOperatorProcess(name, flags);
  processes.push(op.process);
  return op;
}

/** The value of one sample line of Prometheus text, e.g. 'workqueue_adds_total{name="serverimage",controller="serverimage"}'. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('probes answer and metrics move as an image is made', async () => {
  const ns = await createNamespace('si-process');
  const recorder = recordManagers(ns);
  await recorder.start();
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
  await recorder.stop();
  expectStatusByVirtController(recorder);
});
