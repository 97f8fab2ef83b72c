// The fault cases, shared by the suite on the simulator (serverimage-faults.test.ts) and
// on KubeVirt's real virt-controller (serverimage-faults-real-kubevirt.test.ts). Each
// ends as Nova would (Error with a reason, everything purged) or recovers (retry), and
// never leaves a snapshot, an export or an upload session behind.
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { until } from '../harness/kubevirt/testing.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import {
  SERVERIMAGE,
  conditionOf,
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  waitForPhase,
  type ServerImageTestFile,
} from './serverimage-fixtures.js';

/**
 * The fault cases as jest tests on `bed` (its namespace included). `leaveOut`: names of
 * cases (the first words, e.g. 'a failing snapshot') not defined, with the reason.
 */
export function faultCases(bed: ServerImageTestFile, leaveOut: Record<string, string> = {}) {
  let authRegistry: TestRegistry;
  const test = (name: string, fn: () => Promise<void>, timeout?: number) => {
    if (Object.keys(leaveOut).some((k) => name.startsWith(k))) return;
    global.test(name, fn, timeout);
  };

  beforeAll(async () => {
    authRegistry = await startRegistry({ auth: 'basic' });
  });

  afterAll(() => authRegistry?.stop());

  afterEach(async () => {
    bed.registry.faults?.clear();
    await expectNothingLeftBehind(bed.client, bed.ns, [bed.registry, authRegistry]);
  });

  const faulty = (annotation: string, value: string) => ({ annotations: { [annotation]: value } });

  test('a failing snapshot ends in SnapshotFailed with KubeVirt words, and is purged', async () => {
    await createVm(bed.client, bed.ns, 'snap-fails', {
      annotations: {
        [Ann.faultSnapshot]: 'fail',
        [Ann.faultSnapshotMessage]: 'freeze failed: agent timeout',
      },
    });
    await createServerImage(bed.client, serverImage(bed.ns, 'snap-fails-image', 'snap-fails', bed.registry));
    const si = await waitForPhase(bed.client, bed.ns, 'snap-fails-image', 'Error');
    expect(conditionOf(si, 'Ready')?.reason).toBe('SnapshotFailed');
    expect(conditionOf(si, 'Ready')?.message).toContain('freeze failed: agent timeout');
    await until(
      'purge recorded',
      async () =>
        conditionOf((await bed.client.get(SERVERIMAGE, bed.ns, 'snap-fails-image'))!, 'Purged')?.status ===
        'True',
    );
  });

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

  test('a bed.registry answering 503 for a while is retried, and the image becomes Active', async () => {
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

  test('wrong bed.registry credentials end in RegistryUnauthorized without a retry storm', async () => {
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
}
