// Faults on the way from a VM to an image, on KubeVirt's real virt-controller v1.8.4:
// snapshots, exports and their Pods, Services and Secrets are KubeVirt's, the
// VolumeSnapshots' status the real snapshot-controller's; the faults act at the bed's seams
// (Service proxy, kubelet, virt-handler and CSI sidecar stand-ins). Each ends as Nova would
// (Error with a reason, everything purged) or recovers (retry), and never leaves a
// snapshot, an export or an upload session behind.
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM_SNAPSHOT, VOLUME_SNAPSHOT, type Obj } from '../harness/kubevirt/api.js';
import { until } from '../harness/kubevirt/testing.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import {
  SERVERIMAGE,
  conditionOf,
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  serverImageTestFile,
  waitForPhase,
} from './serverimage-fixtures.js';

const bed = serverImageTestFile({ namespace: 'si-faults' });

let authRegistry: TestRegistry;

beforeAll(async () => {
  authRegistry = await startRegistry({ auth: 'basic' });
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

test('an export that never gets ready ends in ExportTimeout after the deadline, and is purged', async () => {
  await createVm(bed.client, bed.ns, 'export-stuck', faulty(Ann.faultExport, 'never-ready'));
  await createServerImage(
    bed.client,
    serverImage(bed.ns, 'export-stuck-image', 'export-stuck', bed.registry),
  );
  const si = await waitForPhase(bed.client, bed.ns, 'export-stuck-image', 'Error');
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

  test('while Saving stops the transfer and leaves nothing behind', async () => {
    await createVm(bed.client, bed.ns, 'abandoned', faulty(Ann.faultBytesPerSecond, String(256 * 1024)));
    await createServerImage(bed.client, serverImage(bed.ns, 'abandoned-image', 'abandoned', bed.registry));
    await until(
      'upload under way',
      async () =>
        (await bed.client.get(SERVERIMAGE, bed.ns, 'abandoned-image'))?.status?.progress?.bytesDone > 0,
    );
    await bed.client.delete(SERVERIMAGE, bed.ns, 'abandoned-image');
    await until(
      'ServerImage gone',
      async () => !(await bed.client.get(SERVERIMAGE, bed.ns, 'abandoned-image')),
    );
    expect(bed.operator!.transfers.running()).toBe(0);
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
