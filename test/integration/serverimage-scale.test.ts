// Many images at once, and what one image costs the API server.
import { readFileSync } from 'node:fs';
import { Watch } from '@kubernetes/client-node';
import type { Obj } from '../harness/kubevirt/api.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { type InProcessOperator } from '../harness/operator.js';
import { type TestRegistry } from '../harness/registry.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import {
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  waitForPhase,
  startServerImageBed,
  type ServerImageBed,
} from './serverimage-fixtures.js';

const EXPORT_LIMIT = 3;
let bed: ServerImageBed;
let registry: TestRegistry;
let operator: InProcessOperator;
let client: SimTestClient;

beforeAll(async () => {
  bed = await startServerImageBed([
    `--max-concurrent-exports=${EXPORT_LIMIT}`,
    '--workers=4',
    // A loaded machine makes exports slow to get ready; this test is about counts, not deadlines.
    '--export-timeout=60s',
    '--snapshot-timeout=60s',
  ]);
  ({ registry, client } = bed);
  operator = bed.operator!;
});

afterAll(() => bed?.stop());

/**
 * Watches the VirtualMachineExports of a namespace (a real watch, every event) and keeps
 * the most that existed at once; an export being deleted still exists.
 */
async function watchExportCount(ns: string) {
  const present = new Set<string>();
  let peak = 0;
  const request = await new Watch(kubeConfig()).watch(
    `/apis/export.kubevirt.io/v1/namespaces/${ns}/virtualmachineexports`,
    {},
    (type: string, obj: Obj) => {
      if (type === 'ADDED' || type === 'MODIFIED') present.add(obj.metadata.name);
      if (type === 'DELETED') present.delete(obj.metadata.name);
      peak = Math.max(peak, present.size);
    },
    () => undefined,
  );
  return { peak: () => peak, stop: () => request.abort() };
}

test(`20 ServerImages of 20 VMs all reach Active, at most ${EXPORT_LIMIT} transfers and ${EXPORT_LIMIT + 1} exports at once`, async () => {
  const ns = await createNamespace('si-scale');
  const exports = await watchExportCount(ns);
  const vms = Array.from({ length: 20 }, (_, i) => `vm-${String(i).padStart(2, '0')}`);
  await Promise.all(
    vms.map((vm) => createVm(client, ns, vm, { disks: [{ volume: 'rootdisk', size: 1024 * 1024 }] })),
  );
  await Promise.all(vms.map((vm) => createServerImage(client, serverImage(ns, `${vm}-image`, vm, registry))));
  const images = await Promise.all(
    vms.map((vm) => waitForPhase(client, ns, `${vm}-image`, 'Active', 180_000)),
  );
  expect(images.map((si) => si.status.phase)).toEqual(vms.map(() => 'Active'));
  await expectNothingLeftBehind(client, ns, [registry]);
  exports.stop();
  process.stderr.write(
    `\n[exports] 20 images, ${EXPORT_LIMIT} transfer slots: at most ${exports.peak()} VirtualMachineExports existed at once\n`,
  );
  expect(operator.transfers.peakRunning()).toBeLessThanOrEqual(EXPORT_LIMIT);
  expect(operator.transfers.peakRunning()).toBeGreaterThan(1);
  // The export is made only once a slot is granted; one being deleted may overlap the next.
  expect(exports.peak()).toBeLessThanOrEqual(EXPORT_LIMIT + 1);
  expect(exports.peak()).toBeGreaterThan(1);
}, 200_000);

interface AuditEvent {
  verb: string;
  stage: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
}

/** The operator's kinds of writes: the simulator writes VM, PVC and KubeVirt status, the test its ServerImage. */
function operatorWrite(event: AuditEvent): boolean {
  const ref = event.objectRef ?? {};
  if (ref.resource === 'serverimages') return event.verb !== 'create';
  // The simulator patches their status and finalizers; the operator creates and deletes them.
  if (ref.resource === 'virtualmachinesnapshots' || ref.resource === 'virtualmachineexports') {
    return event.verb === 'create' || event.verb === 'delete';
  }
  return ref.resource === 'secrets' || ref.resource === 'events';
}

test('the API writes one image takes from Queued to Active', async () => {
  const ns = await createNamespace('si-writes');
  await createVm(client, ns, 'counted');
  await createServerImage(client, serverImage(ns, 'counted-image', 'counted', registry));
  await waitForPhase(client, ns, 'counted-image', 'Active');
  await expectNothingLeftBehind(client, ns, [registry]);
  const auditLog = process.env.SERVERIMAGE_TESTBED_AUDIT_LOG!;
  const writesIn = () =>
    readFileSync(auditLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditEvent)
      .filter((e) => e.stage === 'ResponseComplete' && e.objectRef?.namespace === ns && operatorWrite(e));
  // The audit log is written in batches; wait for the clean-up's deletes to land.
  const writes = await until('the deletes in the audit log', async () => {
    const all = writesIn();
    return all.filter((e) => e.verb === 'delete').length >= 3 ? all : undefined;
  });
  const byKind = new Map<string, number>();
  for (const e of writes) {
    const kind = `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`;
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  }
  process.stderr.write(
    `\n[api writes] one image, Queued to Active and cleaned up: ${writes.length}\n` +
      [...byKind].map(([kind, n]) => `  ${String(n).padStart(3)}  ${kind}`).join('\n') +
      '\n',
  );
  // One create and one delete each of snapshot, export and token Secret are the floor.
  expect(byKind.get('create virtualmachinesnapshots')).toBe(1);
  expect(byKind.get('create virtualmachineexports')).toBe(1);
  expect(writes.length).toBeLessThanOrEqual(40);
});
