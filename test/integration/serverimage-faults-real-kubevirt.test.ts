// The fault cases (serverimage-faults-cases.ts) on KubeVirt's real virt-controller
// v1.8.4: snapshots, exports and their Pods, Services and Secrets are KubeVirt's, the
// VolumeSnapshots' status the real snapshot-controller's; the faults act at the bed's seams
// (Service proxy, kubelet, virt-handler and CSI sidecar stand-ins).
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM_SNAPSHOT, VOLUME_SNAPSHOT, type Obj } from '../harness/kubevirt/api.js';
import { until } from '../harness/kubevirt/testing.js';
import { faultCases } from './serverimage-faults-cases.js';
import {
  SERVERIMAGE,
  conditionOf,
  createServerImage,
  createVm,
  serverImage,
  serverImageTestFile,
  waitForPhase,
} from './serverimage-fixtures.js';

const bed = serverImageTestFile({ namespace: 'si-faults-real', simOptions: { realKubevirt: true } });

faultCases(bed, {
  // virt-controller does not fail a snapshot whose VolumeSnapshot reports an error: it
  // keeps it InProgress (error.message, Progressing=False "In error state") until its
  // failureDeadline (5m). The real-bed case below asserts what that gives instead.
  'a failing snapshot': 'no SnapshotFailed from the real controller before failureDeadline',
});

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

afterEach(async () => {
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
