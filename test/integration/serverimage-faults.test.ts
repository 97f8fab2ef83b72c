// Faults on the way from a VM to an image, on KubeVirt's real virt-controller v1.8.4:
// snapshots, exports and their Pods, Services and Secrets are KubeVirt's, the
// VolumeSnapshots' status the real snapshot-controller's, the exporter Pods containers on the
// bed's real node; the faults act at the bed's seams (Service proxy, the node's network for
// the exporter's probe, virt-handler and CSI sidecar stand-ins). Each ends as Nova would
// (Error with a reason, everything purged) or recovers (retry), and never leaves a
// snapshot, an export or an upload session behind.
import * as k8s from '@kubernetes/client-node';
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM, VM_SNAPSHOT, VOLUME_SNAPSHOT, type Obj, type Resource } from '../harness/kubevirt/api.js';
import { until } from '../harness/kubevirt/testing.js';
import { expectStatusByKubelet, recordPodStatus } from './field-managers.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { startOperator } from '../harness/operator.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import {
  SERVERIMAGE,
  bedRegistryOptions,
  conditionOf,
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  serverImageTestFile,
  waitForPhase,
} from './serverimage-fixtures.js';

// A real exporter Pod is Ready in 7-12 s here: 40 s is room enough, and the never-ready
// case waits that out.
const EXPORT_TIMEOUT_MS = 40_000;
const bed = serverImageTestFile({
  namespace: 'si-faults',
  operatorFlags: [`--export-timeout=${EXPORT_TIMEOUT_MS / 1000}s`],
  // The cases with transfer settings of their own run operators of their own beside it
  // (withOwnOperator).
  watchOwnNamespace: true,
});

let authRegistry: TestRegistry;

beforeAll(async () => {
  authRegistry = await startRegistry(bedRegistryOptions(bed.sim, { auth: 'basic' }));
});

afterAll(() => authRegistry?.stop());

afterEach(async () => {
  bed.registry.faults?.clear();
  await expectNothingLeftBehind(bed.client, bed.ns, [bed.registry, authRegistry]);
  // What virt-controller made for the exports goes with them (the garbage collector).
  await until(
    'exporter Pods and their processes to be gone',
    async () =>
      bed.sim.exportServers().length === 0 &&
      (await bed.client.core.listNamespacedPod({ namespace: bed.ns })).items.every(
        (p) => !p.metadata?.name?.startsWith('virt-export-'),
      ),
    30_000,
  );
});

const faulty = (annotation: string, value: string) => ({ annotations: { [annotation]: value } });

/** Every version of the namespace's objects of a kind that a watch sees, in order (what `pick` keeps of each). */
async function recordVersions<T>(r: Resource, pick: (o: Obj) => T) {
  const kc = kubeConfig();
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const informer = k8s.makeInformer<Obj>(
    kc,
    `/apis/${r.group}/${r.version}/namespaces/${bed.ns}/${r.plural}`,
    () => api.listNamespacedCustomObject({ ...r, namespace: bed.ns }),
  );
  const seen: T[] = [];
  informer.on('add', (o) => seen.push(pick(o)));
  informer.on('update', (o) => seen.push(pick(o)));
  await informer.start();
  return { seen, stop: () => informer.stop() };
}

test('an export that never gets ready ends in ExportTimeout after the deadline, and is purged', async () => {
  await createVm(bed.client, bed.ns, 'export-stuck', faulty(Ann.faultExport, 'never-ready'));
  await createServerImage(
    bed.client,
    serverImage(bed.ns, 'export-stuck-image', 'export-stuck', bed.registry),
  );
  // Its exporter Pod runs on the real node, whose network refuses the kubelet's probe.
  const pod = await until('the exporter Pod running', async () =>
    (await bed.client.core.listNamespacedPod({ namespace: bed.ns })).items.find(
      (p) => p.metadata?.name?.startsWith('virt-export-') && p.status?.phase === 'Running',
    ),
  );
  expect(pod.spec?.nodeName).toBe(bed.sim.realNode?.nodeName);
  const si = await waitForPhase(
    bed.client,
    bed.ns,
    'export-stuck-image',
    'Error',
    EXPORT_TIMEOUT_MS + 30_000,
  );
  expect(conditionOf(si, 'Ready')?.reason).toBe('ExportTimeout');
  expect(conditionOf(si, 'Snapshotted')?.status).toBe('True');
});

test('the registry answering 503 for a while is retried, and the image becomes Active', async () => {
  const shas = await createVm(bed.client, bed.ns, 'registry-down');
  bed.registry.faults!.respond(503, { forMs: 4000 });
  await createServerImage(
    bed.client,
    serverImage(bed.ns, 'registry-down-image', 'registry-down', bed.registry),
  );
  const si = await waitForPhase(bed.client, bed.ns, 'registry-down-image', 'Active', 90_000);
  expect(bed.registry.requests.some((r) => r.injected && r.status === 503)).toBe(true);
  expect(await imageDiskSha256(bed.crane, si.status.images[0].reference)).toBe(shas.rootdisk);
});

test('an export connection dropped mid-stream is resumed with the same bytes', async () => {
  const shas = await createVm(
    bed.client,
    bed.ns,
    'drops',
    faulty(Ann.faultDropAfterBytes, String(1024 * 1024)),
  );
  await createServerImage(bed.client, serverImage(bed.ns, 'drops-image', 'drops', bed.registry));
  const si = await waitForPhase(bed.client, bed.ns, 'drops-image', 'Active');
  expect(await imageDiskSha256(bed.crane, si.status.images[0].reference)).toBe(shas.rootdisk);
});

test('wrong registry credentials end in RegistryUnauthorized without a retry storm', async () => {
  await createVm(bed.client, bed.ns, 'bad-creds');
  await bed.client.core.createNamespacedSecret({
    namespace: bed.ns,
    body: {
      metadata: { name: 'regcred' },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: authRegistry.username!, password: 'not-the-password' },
    },
  });
  const before = authRegistry.requests.length;
  await createServerImage(
    bed.client,
    serverImage(bed.ns, 'bad-creds-image', 'bad-creds', authRegistry, {
      registry: { credentialsSecretRef: { name: 'regcred' } },
    }),
  );
  const si = await waitForPhase(bed.client, bed.ns, 'bad-creds-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('RegistryUnauthorized');
  expect(authRegistry.requests.length - before).toBeLessThanOrEqual(4);
});

test('a VM deleted mid-way ends in ServerDeleted, and is purged', async () => {
  await createVm(bed.client, bed.ns, 'vanishes', {
    annotations: {
      [Ann.faultVmChange]: 'export-read=Deleted',
      [Ann.faultBytesPerSecond]: String(512 * 1024),
    },
  });
  await createServerImage(bed.client, serverImage(bed.ns, 'vanishes-image', 'vanishes', bed.registry));
  const si = await waitForPhase(bed.client, bed.ns, 'vanishes-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('ServerDeleted');
  expect(si.status.images ?? []).toEqual([]);
});

// fault-vm-change at the CSI sidecar's snapshot-start: the VM is deleted after
// virt-controller locked it for the snapshot (status.snapshotInProgress and the finalizer
// snapshot.kubevirt.io/snapshot-source-protection), before the volume is cut. KubeVirt
// holds the VM Terminating (its VMI stopped) until the snapshot is done or deleted, then
// unlocks it and it goes; nothing fails the snapshot for it (README #35). The operator:
// ServerDeleted (it counts a VM being deleted as deleted), and purged.
test('a VM deleted when its snapshot starts is held by the snapshot lock; ServerDeleted, purged, and the VM goes', async () => {
  const vms = await recordVersions(VM, (o) => ({
    name: o.metadata.name,
    deleting: Boolean(o.metadata.deletionTimestamp),
    finalizers: o.metadata.finalizers ?? [],
    snapshotInProgress: o.status?.snapshotInProgress as string | undefined,
  }));
  const snapshots = await recordVersions(VM_SNAPSHOT, (o) => ({
    source: o.spec.source.name as string,
    phase: o.status?.phase as string | undefined,
  }));
  try {
    await createVm(bed.client, bed.ns, 'snap-gone', faulty(Ann.faultVmChange, 'snapshot-start=Deleted'));
    await createServerImage(bed.client, serverImage(bed.ns, 'snap-gone-image', 'snap-gone', bed.registry));
    const si = await waitForPhase(bed.client, bed.ns, 'snap-gone-image', 'Error');
    expect(conditionOf(si, 'Ready')).toMatchObject({
      reason: 'ServerDeleted',
      message: expect.stringMatching(/VirtualMachine snap-gone was deleted while its image was being saved/),
    });
    expect(si.status.images ?? []).toEqual([]);
    await until('the VM gone', async () => !(await bed.client.get(VM, bed.ns, 'snap-gone')));
    const mine = vms.seen.filter((v) => v.name === 'snap-gone');
    // Deleted while locked: Terminating, the lock's finalizer holding it.
    expect(mine).toContainEqual(
      expect.objectContaining({
        deleting: true,
        snapshotInProgress: expect.any(String),
        finalizers: expect.arrayContaining(['snapshot.kubevirt.io/snapshot-source-protection']),
      }),
    );
    expect(snapshots.seen.filter((s) => s.source === 'snap-gone').map((s) => s.phase)).not.toContain(
      'Failed',
    );
  } finally {
    await vms.stop();
    await snapshots.stop();
  }
});

// The same with a CSI driver that errs: KubeVirt keeps the snapshot InProgress until its
// deadline (#18) and the VM Terminating with it. The operator does not wait on a VM being
// deleted (ServerDeleted, not SnapshotTimeout); its purge deletes the snapshot, which
// unlocks the VM, and the user's deletion completes.
test('a VM deleted when its snapshot starts, while the VolumeSnapshot errs: ServerDeleted at once, and the VM goes', async () => {
  const vms = await recordVersions(VM, (o) => ({
    name: o.metadata.name,
    deleting: Boolean(o.metadata.deletionTimestamp),
    finalizers: o.metadata.finalizers ?? [],
  }));
  try {
    await createVm(bed.client, bed.ns, 'snap-gone-errs', {
      annotations: { [Ann.faultVmChange]: 'snapshot-start=Deleted', [Ann.faultSnapshot]: 'fail' },
    });
    await createServerImage(
      bed.client,
      serverImage(bed.ns, 'snap-gone-errs-image', 'snap-gone-errs', bed.registry),
    );
    const si = await waitForPhase(bed.client, bed.ns, 'snap-gone-errs-image', 'Error');
    expect(conditionOf(si, 'Ready')?.reason).toBe('ServerDeleted');
    expect(conditionOf(si, 'Snapshotted')?.status).not.toBe('True');
    await until('the VM gone', async () => !(await bed.client.get(VM, bed.ns, 'snap-gone-errs')));
    expect(vms.seen).toContainEqual({
      name: 'snap-gone-errs',
      deleting: true,
      finalizers: expect.arrayContaining(['snapshot.kubevirt.io/snapshot-source-protection']),
    });
  } finally {
    await vms.stop();
  }
});

// fault-vm-change at the kubelet's export-ready: the snapshot is done (the VM unlocked),
// the export serves the snapshot's restored volumes, so stopping the VM changes nothing for
// the image; the operator pushes it and says the VM did not come back to its state.
test('a VM stopped when its export gets ready: the image is Active with the snapshot bytes, ServerStateChanged', async () => {
  const shas = await createVm(
    bed.client,
    bed.ns,
    'export-stop',
    faulty(Ann.faultVmChange, 'export-ready=Stopped'),
  );
  await createServerImage(bed.client, serverImage(bed.ns, 'export-stop-image', 'export-stop', bed.registry));
  const si = await waitForPhase(bed.client, bed.ns, 'export-stop-image', 'Active');
  expect(await imageDiskSha256(bed.crane, si.status.images[0].reference)).toBe(shas.rootdisk);
  expect(conditionOf(si, 'ServerRestored')).toMatchObject({
    status: 'False',
    reason: 'ServerStateChanged',
    message: 'VirtualMachine export-stop was Running when the image was requested and is Stopped now',
  });
  expect(si.status.server.restored).toBe(false);
  const vm = await bed.client.get(VM, bed.ns, 'export-stop');
  expect(vm).toMatchObject({ spec: { runStrategy: 'Halted' }, status: { printableStatus: 'Stopped' } });
});

test('a transfer Pod killed mid-push (deleted: SIGTERM) is followed by a new attempt; Active, bytes exact, nothing left', async () => {
  // 3 MiB at 512 KiB/s through the export's Service proxy: the Pod is still reading when it goes.
  const shas = await createVm(
    bed.client,
    bed.ns,
    'killed',
    faulty(Ann.faultBytesPerSecond, String(512 * 1024)),
  );
  const transferPods = recordPodStatus(bed.ns, 'killed-image-');
  await transferPods.start();
  await createServerImage(bed.client, serverImage(bed.ns, 'killed-image', 'killed', bed.registry));
  const selector = 'app.kubernetes.io/component=transfer,serverimage.io/serverimage=killed-image';
  const running = await until('the transfer Pod pushing', async () => {
    const si = await bed.client.get(SERVERIMAGE, bed.ns, 'killed-image');
    if (!(si?.status?.progress?.bytesDone > 0)) return undefined;
    const pods = await bed.client.core.listNamespacedPod({ namespace: bed.ns, labelSelector: selector });
    return pods.items.find((p) => p.status?.phase === 'Running');
  });
  const first = running.metadata!.name!;
  await bed.client.core.deleteNamespacedPod({ namespace: bed.ns, name: first });
  await bed.client.annotate(VM, bed.ns, 'killed', { [Ann.faultBytesPerSecond]: null });
  const si = await waitForPhase(bed.client, bed.ns, 'killed-image', 'Active', 180_000);
  expect(await imageDiskSha256(bed.crane, si.status.images[0].reference)).toBe(shas.rootdisk);
  // Pushed by a Pod made after the first one went (another attempt, or the same name again
  // when the first vanished before its result was read); the events say which.
  expect(si.status.retry).toBeUndefined();
  await transferPods.stop();
  // Both transfer Pods ran on the real node: their status (Running, then the SIGTERM's exit)
  // is the real kubelet's.
  expectStatusByKubelet(transferPods.seen(), bed.sim.realNode!.nodeName);
});

/** A namespace of its own watched by an operator of its own, with transfer settings a case gives. */
async function withOwnOperator(prefix: string, flags: string[], run: (ns: string) => Promise<void>) {
  const ns = await createNamespace(prefix);
  const operator = await startOperator([`--watch-namespaces=${ns}`, ...flags]);
  try {
    await run(ns);
    await expectNothingLeftBehind(bed.client, ns, [bed.registry]);
  } finally {
    await operator.stop();
  }
}

test('a transfer Pod OOM-killed (a tiny memory limit) is retried within the budget, then Error TransferPodOOMKilled naming the setting; nothing left', async () => {
  const flags = [
    '--transfer-memory-request=24Mi',
    '--transfer-memory-limit=24Mi',
    '--registry-retry-timeout=20s',
  ];
  await withOwnOperator('si-oom', flags, async (ns) => {
    await createVm(bed.client, ns, 'hungry');
    const selector = 'app.kubernetes.io/component=transfer,serverimage.io/serverimage=hungry-image';
    const ended = new Map<string, string | undefined>();
    const watch = setInterval(() => {
      void bed.client.core.listNamespacedPod({ namespace: ns, labelSelector: selector }).then(
        (pods) => {
          for (const p of pods.items) {
            const reason = p.status?.containerStatuses?.[0]?.state?.terminated?.reason;
            if (reason) ended.set(p.metadata!.name!, reason);
          }
        },
        () => undefined,
      );
    }, 250);
    try {
      await createServerImage(bed.client, serverImage(ns, 'hungry-image', 'hungry', bed.registry));
      const si = await waitForPhase(bed.client, ns, 'hungry-image', 'Error', 180_000);
      const ready = conditionOf(si, 'Ready');
      expect(ready?.reason).toBe('TransferPodOOMKilled');
      expect(ready?.message).toMatch(/limit of 24Mi \(OOMKilled\); raise --transfer-memory-limit/);
      // Retried: more than one Pod, each killed by the kernel for its cgroup's limit (the
      // kubelet's reason, read from the runtime).
      expect(ended.size).toBeGreaterThan(1);
      expect([...ended.values()].every((r) => r === 'OOMKilled')).toBe(true);
    } finally {
      clearInterval(watch);
    }
  });
}, 240_000);

test("a transfer Pod no node can take waits with the scheduler's words, then ends in TransferPodUnschedulable; nothing left", async () => {
  const flags = [
    '--transfer-node-selector=serverimage.io/no-such-node=true',
    '--transfer-unschedulable-timeout=15s',
  ];
  await withOwnOperator('si-unschedulable', flags, async (ns) => {
    await createVm(bed.client, ns, 'nowhere');
    await createServerImage(bed.client, serverImage(ns, 'nowhere-image', 'nowhere', bed.registry));
    // Meanwhile the ServerImage says why, in kube-scheduler's words.
    const waiting = await until(
      "the scheduler's message on the ServerImage",
      async () => {
        const si = await bed.client.get(SERVERIMAGE, ns, 'nowhere-image');
        const pushed = si && conditionOf(si, 'Pushed');
        return pushed?.reason === 'TransferPodPending' && /cannot be scheduled/.test(pushed.message)
          ? pushed
          : undefined;
      },
      120_000,
    );
    expect(waiting.message).toMatch(/didn't match Pod's node affinity\/selector/);
    const si = await waitForPhase(bed.client, ns, 'nowhere-image', 'Error', 90_000);
    const ready = conditionOf(si, 'Ready');
    expect(ready?.reason).toBe('TransferPodUnschedulable');
    expect(ready?.message).toMatch(/didn't match Pod's node affinity\/selector.*--transfer-node-selector/s);
  });
}, 240_000);

describe('deleting a ServerImage', () => {
  test('with deletionPolicy Delete removes its image; Retain keeps it', async () => {
    await createVm(bed.client, bed.ns, 'policy');
    await createServerImage(
      bed.client,
      serverImage(bed.ns, 'policy-delete', 'policy', bed.registry, { deletionPolicy: 'Delete' }),
    );
    const deleted = await waitForPhase(bed.client, bed.ns, 'policy-delete', 'Active');
    await createServerImage(bed.client, serverImage(bed.ns, 'policy-retain', 'policy', bed.registry));
    const retained = await waitForPhase(bed.client, bed.ns, 'policy-retain', 'Active');

    await bed.client.delete(SERVERIMAGE, bed.ns, 'policy-delete');
    await bed.client.delete(SERVERIMAGE, bed.ns, 'policy-retain');
    await until(
      'both ServerImages gone',
      async () =>
        !(await bed.client.get(SERVERIMAGE, bed.ns, 'policy-delete')) &&
        !(await bed.client.get(SERVERIMAGE, bed.ns, 'policy-retain')),
    );
    const gone = await bed.crane.run(['manifest', deleted.status.images[0].reference]);
    expect(gone.code).not.toBe(0);
    expect(await bed.crane.digest(retained.status.images[0].reference)).toBe(
      retained.status.images[0].digest,
    );
  });

  test('while Saving stops its transfer Pod (the finalizer waits for it) and leaves nothing behind', async () => {
    await createVm(bed.client, bed.ns, 'abandoned', faulty(Ann.faultBytesPerSecond, String(256 * 1024)));
    await createServerImage(bed.client, serverImage(bed.ns, 'abandoned-image', 'abandoned', bed.registry));
    // Snapshot, export (the exporter Pod's readiness) and the transfer Pod first: on a loaded
    // machine that alone took over 20 s.
    await until(
      'upload under way',
      async () =>
        (await bed.client.get(SERVERIMAGE, bed.ns, 'abandoned-image'))?.status?.progress?.bytesDone > 0,
      120_000,
    );
    const deleted = Date.now();
    await bed.client.delete(SERVERIMAGE, bed.ns, 'abandoned-image');
    // The finalizer may rightly wait the Pod's grace period (30 s), then the kubelet's teardown.
    await until(
      'ServerImage gone',
      async () => !(await bed.client.get(SERVERIMAGE, bed.ns, 'abandoned-image')),
      60_000,
    );
    process.stderr.write(
      `\n[deleting while Saving] ServerImage gone ${Date.now() - deleted} ms after the delete\n`,
    );
    // The finalizer went only once the transfer Pod was gone: none is left at that moment.
    const pods = await bed.client.core.listNamespacedPod({
      namespace: bed.ns,
      labelSelector: 'app.kubernetes.io/component=transfer,serverimage.io/serverimage=abandoned-image',
    });
    expect(pods.items.map((p) => p.metadata?.name)).toEqual([]);
    expect(bed.operator!.slots.holders().size).toBe(0);
  });
});

// A snapshot whose VolumeSnapshot fails: virt-controller does not fail the snapshot, it
// keeps it InProgress (error.message, Progressing=False "In error state") until its
// failureDeadline (5m); the operator ends in SnapshotTimeout (README #18).
test('a snapshot whose VolumeSnapshot fails stays InProgress, ends in SnapshotTimeout, and is purged', async () => {
  await createVm(bed.client, bed.ns, 'snap-errors', {
    annotations: { [Ann.faultSnapshot]: 'fail', [Ann.faultSnapshotMessage]: 'csi driver: disk busy' },
  });
  await createServerImage(bed.client, serverImage(bed.ns, 'snap-errors-image', 'snap-errors', bed.registry));
  await until('virt-controller to carry the VolumeSnapshot error', async () => {
    const list = (await bed.client.custom.listNamespacedCustomObject({
      ...VM_SNAPSHOT,
      namespace: bed.ns,
    })) as { items: Obj[] };
    const status = list.items[0]?.status;
    return status?.phase === 'InProgress' && /csi driver: disk busy/.test(status?.error?.message ?? '');
  });
  // The driver's error went from the VolumeSnapshotContent (the CSI sidecar's words) to the
  // VolumeSnapshot through the real snapshot-controller.
  const volumeSnapshots = (await bed.client.custom.listNamespacedCustomObject({
    ...VOLUME_SNAPSHOT,
    namespace: bed.ns,
    labelSelector: 'snapshot.kubevirt.io/source-vm-name=snap-errors',
  })) as { items: Obj[] };
  expect(volumeSnapshots.items[0]?.status?.error?.message).toMatch(
    /^Failed to create snapshot: failed to take snapshot of the volume .*rpc error: code = Internal desc = csi driver: disk busy/,
  );
  const si = await waitForPhase(bed.client, bed.ns, 'snap-errors-image', 'Error');
  expect(conditionOf(si, 'Ready')).toMatchObject({
    reason: 'SnapshotTimeout',
    message: expect.stringMatching(/is InProgress: .*csi driver: disk busy.*; gave up after/),
  });
  await until(
    'purge recorded',
    async () =>
      conditionOf((await bed.client.get(SERVERIMAGE, bed.ns, 'snap-errors-image'))!, 'Purged')?.status ===
      'True',
  );
  // It says what there was: the snapshot (and no export, no image: none had been made).
  const purged = conditionOf((await bed.client.get(SERVERIMAGE, bed.ns, 'snap-errors-image'))!, 'Purged');
  expect(purged?.message).toMatch(/^Removed VirtualMachineSnapshot [^,]+$/);
});

test('a snapshot the CSI side never reports ready (hang): KubeVirt says Succeeded, not readyToUse; SnapshotTimeout says so', async () => {
  await createVm(bed.client, bed.ns, 'snap-hangs', { annotations: { [Ann.faultSnapshot]: 'hang' } });
  await createServerImage(bed.client, serverImage(bed.ns, 'snap-hangs-image', 'snap-hangs', bed.registry));
  // The content has its snapshotHandle but readyToUse false; snapshot-controller says so
  // on the VolumeSnapshot; virt-controller calls the snapshot Succeeded once every
  // VolumeSnapshot has a creationTime (cut), ready or not (README #23).
  const held = await until('a VolumeSnapshot cut (creationTime), not ready', async () => {
    const list = (await bed.client.custom.listNamespacedCustomObject({
      ...VOLUME_SNAPSHOT,
      namespace: bed.ns,
      labelSelector: 'snapshot.kubevirt.io/source-vm-name=snap-hangs',
    })) as { items: Obj[] };
    const status = list.items[0]?.status;
    return status?.creationTime && status.readyToUse === false ? status : undefined;
  });
  const content = (await bed.client.custom.getClusterCustomObject({
    ...VOLUME_SNAPSHOT,
    plural: 'volumesnapshotcontents',
    name: held.boundVolumeSnapshotContentName,
  })) as Obj;
  expect(content.status).toEqual(
    expect.objectContaining({ snapshotHandle: expect.stringMatching(/^snapshot-/), readyToUse: false }),
  );
  await until('virt-controller to call the snapshot Succeeded, not ready', async () => {
    const list = (await bed.client.custom.listNamespacedCustomObject({
      ...VM_SNAPSHOT,
      namespace: bed.ns,
    })) as { items: Obj[] };
    const status = list.items.find((o) => o.spec.source.name === 'snap-hangs')?.status;
    return status?.phase === 'Succeeded' && status.readyToUse === false;
  });
  const si = await waitForPhase(bed.client, bed.ns, 'snap-hangs-image', 'Error');
  expect(conditionOf(si, 'Ready')).toMatchObject({
    reason: 'SnapshotTimeout',
    message: expect.stringMatching(/is Succeeded, not yet readyToUse; gave up after/),
  });
});
