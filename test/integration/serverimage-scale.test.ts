// Many images at once, and what one image costs the API server, on KubeVirt's real
// virt-controller v1.8.4: every VM, snapshot and export of them is KubeVirt's, each export
// served by its own exporter Pod (a virt-exportserver process).
import { Watch } from '@kubernetes/client-node';
import { VM_EXPORT, VM_SNAPSHOT, VOLUME_SNAPSHOT, type Obj } from '../harness/kubevirt/api.js';
import { until } from '../harness/kubevirt/testing.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import { recordManagers } from './field-managers.js';
import {
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  waitForPhase,
  serverImageTestFile,
} from './serverimage-fixtures.js';
import { byClientNode, completedRequests, type AuditEvent } from '../harness/audit-log.js';

const EXPORT_LIMIT = 3;

/** The operator's flags for these cases. */
const SCALE_FLAGS = [
  `--max-concurrent-exports=${EXPORT_LIMIT}`,
  '--workers=4',
  // A loaded machine makes exports slow to get ready; these cases are about counts, not deadlines.
  '--export-timeout=60s',
  '--snapshot-timeout=60s',
];

/**
 * 8 images (the simulator's suite had 20): with 3 transfer slots, 8 already queue behind
 * the limit (the peak of transfers and exports is what is asserted), and each real image
 * costs a VMI, a virt-launcher Pod, an exporter Pod and a Go process on a shared 2-core
 * machine; 20 would add ~12 of each for no new path through the limiter.
 */
const IMAGES = 8;

/**
 * The most API writes the operator may make for one image, Queued to Active and cleaned
 * up: 34-39 were seen here (34-35 on the simulator, which allowed 40): virt-controller passes
 * more states the operator mirrors in its condition message (an export Pending
 * PodPending, then Pending Unknown; a snapshot InProgress rewritten), and its finalizers
 * keep a deleted snapshot long enough that a reconcile seeing the export's deletion first
 * runs the clean-up once more (3 more deletes). See the kubevirt README, #19.
 */
const MAX_WRITES = 45;

const bed = serverImageTestFile({ operatorFlags: SCALE_FLAGS });

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

/**
 * The operator's kinds of writes. By resource: the bed's stand-ins write PVC and VMI
 * status, the test its ServerImage. By client: virt-controller, the garbage collector and
 * the scheduler write Secrets, Events, Pods too; they are Go clients, while the operator
 * (like the stand-ins and the test) is client-node.
 */
function operatorWrite(event: AuditEvent): boolean {
  if (!byClientNode(event)) return false;
  const ref = event.objectRef ?? {};
  if (ref.resource === 'serverimages') return event.verb !== 'create';
  // KubeVirt patches their status and finalizers; the operator creates and deletes them.
  if (ref.resource === 'virtualmachinesnapshots' || ref.resource === 'virtualmachineexports') {
    return event.verb === 'create' || event.verb === 'delete';
  }
  return ref.resource === 'secrets' || ref.resource === 'events';
}

const n = IMAGES;

/** A case's own namespace, and the check of who wrote its snapshots' and exports' status. */
const namespaceFor = async (prefix: string) => {
  const ns = await createNamespace(prefix);
  const recorder = recordManagers(ns, [VM_SNAPSHOT, VM_EXPORT, VOLUME_SNAPSHOT]);
  await recorder.start();
  const check = async () => {
    await recorder.stop();
    // Every snapshot's and export's status was KubeVirt's controller's alone, every
    // VolumeSnapshot's the real snapshot-controller's.
    expect(recorder.managers()).toEqual(
      expect.objectContaining({
        'VirtualMachineSnapshot/status': ['virt-controller'],
        'VirtualMachineExport/status': ['virt-controller'],
        'VolumeSnapshot/status': ['snapshot-controller'],
      }),
    );
  };
  return { ns, check };
};

test(`${n} ServerImages of ${n} VMs all reach Active, at most ${EXPORT_LIMIT} transfers and ${EXPORT_LIMIT + 1} exports at once`, async () => {
  const { client, registry } = bed;
  const operator = bed.operator!;
  const { ns, check } = await namespaceFor('si-scale');
  const exports = await watchExportCount(ns);
  const vms = Array.from({ length: n }, (_, i) => `vm-${String(i).padStart(2, '0')}`);
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
    `\n[exports] ${n} images, ${EXPORT_LIMIT} transfer slots: at most ${exports.peak()} VirtualMachineExports existed at once\n`,
  );
  expect(operator.slots.peakHeld()).toBeLessThanOrEqual(EXPORT_LIMIT);
  expect(operator.slots.peakHeld()).toBeGreaterThan(1);
  // The export is made only once a slot is granted; one being deleted may overlap the next.
  expect(exports.peak()).toBeLessThanOrEqual(EXPORT_LIMIT + 1);
  expect(exports.peak()).toBeGreaterThan(1);
  await check();
}, 200_000);

test('the API writes one image takes from Queued to Active', async () => {
  const { client, registry } = bed;
  const { ns, check } = await namespaceFor('si-writes');
  await createVm(client, ns, 'counted');
  await createServerImage(client, serverImage(ns, 'counted-image', 'counted', registry));
  await waitForPhase(client, ns, 'counted-image', 'Active');
  await expectNothingLeftBehind(client, ns, [registry]);
  const writesIn = () => completedRequests().filter((e) => e.objectRef?.namespace === ns && operatorWrite(e));
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
      [...byKind].map(([kind, count]) => `  ${String(count).padStart(3)}  ${kind}`).join('\n') +
      '\n',
  );
  // One create and one delete each of snapshot, export and token Secret are the floor.
  expect(byKind.get('create virtualmachinesnapshots')).toBe(1);
  expect(byKind.get('create virtualmachineexports')).toBe(1);
  expect(writes.length).toBeLessThanOrEqual(MAX_WRITES);
  await check();
});
