// Restart safety: the operator process is SIGKILLed in the middle of Saving and a new
// one finishes the work, with no duplicate snapshot or export, no volume pushed twice
// and no upload session left open; and one killed while an image retries continues the
// same retry budget (status.retry), not a fresh one.
import { type Crane } from '../harness/crane.js';
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM_EXPORT, VM_SNAPSHOT, type Obj, type Resource } from '../harness/kubevirt/api.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { startOperatorProcess } from '../harness/operator.js';
import { freePort } from '../harness/ports.js';
import type { ManagedProcess } from '../harness/process.js';
import { type TestRegistry } from '../harness/registry.js';
import { createNamespace } from '../harness/testbed.js';
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
let crane: Crane;
let client: SimTestClient;
let ns: string;
const operators: ManagedProcess[] = [];

beforeAll(async () => {
  bed = await startServerImageBed(null);
  ({ registry, crane, client } = bed);
  ns = await createNamespace('si-restart');
});

afterAll(async () => {
  for (const operator of operators) await operator.stop();
  await bed?.stop();
});

/** UIDs of every object of `r` in the namespace seen while `during` runs (sampled). */
function collectUids(r: Resource) {
  const uids = new Set<string>();
  const timer = setInterval(() => {
    void client.custom
      .listNamespacedCustomObject({ ...r, namespace: ns })
      .then((list) => (list as { items: Obj[] }).items.forEach((o) => uids.add(o.metadata.uid)));
  }, 50);
  return { uids, stop: () => clearInterval(timer) };
}

test('SIGKILL during Saving: a new operator process finishes the image', async () => {
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

  const first = startOperatorProcess([], 'first');
  operators.push(first);
  await createServerImage(client, serverImage(ns, 'crashy-image', 'crashy', registry));
  // Kill while the second volume is on its way: the first is pushed, an upload is open.
  const midway = await until(
    'the second volume under way',
    async () => {
      const si = await client.get(SERVERIMAGE, ns, 'crashy-image');
      return si?.status?.images?.length === 1 && si.status.progress?.bytesDone > 1.25 * MiB ? si : undefined;
    },
    60_000,
  );
  await first.stop('SIGKILL');
  expect(registry.openUploads().length).toBe(1);
  const pushedBefore = midway.status.images[0];
  const postsBefore = registry.requests.filter((r) => r.method === 'POST').length;

  const second = startOperatorProcess([], 'second');
  operators.push(second);
  const si = await waitForPhase(client, ns, 'crashy-image', 'Active', 90_000).catch((err) => {
    console.log(registry.requests.map((r) => `${r.method} ${r.path} ${r.status}`).join('\n'));
    throw err;
  });
  snapshots.stop();
  exports.stop();

  expect(si.status.images[0]).toEqual(pushedBefore);
  expect(si.status.images.map((i: { volume: string }) => i.volume)).toEqual(['rootdisk', 'data']);
  expect(await imageDiskSha256(crane, si.status.images[0].reference)).toBe(shas.rootdisk);
  expect(await imageDiskSha256(crane, si.status.images[1].reference)).toBe(shas.data);
  // After the restart only the second volume went up: its layer and its config; then the VM
  // artifact's two blobs (its empty config and the VM definition, issue 13).
  const postsAfter = registry.requests.slice(0).filter((r) => r.method === 'POST').length - postsBefore;
  expect(postsAfter).toBe(4);
  expect(snapshots.uids.size).toBe(1);
  expect(exports.uids.size).toBe(1);
  expect(si.metadata.annotations?.['serverimage.io/upload-session']).toBeUndefined();
  await expectNothingLeftBehind(client, ns, [registry]);
});

test('an operator restarted while an image retries counts the deadline from the first failure', async () => {
  const RETRY_TIMEOUT_MS = 20_000;
  const flags = [`--registry-retry-timeout=${RETRY_TIMEOUT_MS / 1000}s`];
  await createVm(client, ns, 'patient');
  const deadPort = await freePort();
  const first = startOperatorProcess(flags, 'retrying-first');
  operators.push(first);
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
  await first.stop('SIGKILL');
  const restarted = Date.now();
  const second = startOperatorProcess(flags, 'retrying-second');
  operators.push(second);

  const si = await waitForPhase(client, ns, 'patient-image', 'Error', 40_000);
  const failedAt = new Date(si.status.completionTime).getTime();
  expect(si.status.conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({
    reason: 'RegistryUnavailable',
  });
  // Counted from the first failure (status.retry.since), not from the restart: the error
  // comes within a few seconds of since + timeout, well before restart + timeout.
  expect(failedAt - since).toBeGreaterThanOrEqual(RETRY_TIMEOUT_MS - 1000);
  expect(failedAt - since).toBeLessThan(RETRY_TIMEOUT_MS + 4000);
  expect(failedAt).toBeLessThan(restarted + RETRY_TIMEOUT_MS - 4000);
  const message = si.status.conditions.find((c: { type: string }) => c.type === 'Ready').message as string;
  const gaveUpAfter = Number(/gave up after (\d+)s/.exec(message)?.[1]);
  expect(gaveUpAfter).toBeGreaterThanOrEqual(RETRY_TIMEOUT_MS / 1000 - 1);
  expect(gaveUpAfter).toBeLessThan(RETRY_TIMEOUT_MS / 1000 + 4);
  await expectNothingLeftBehind(client, ns, [registry]);
});
