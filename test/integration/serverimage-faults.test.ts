// Faults on the way from a VM to an image: each ends as Nova would (Error with a reason,
// everything purged) or recovers (retry), and never leaves a snapshot, an export or an
// upload session behind.
import { type Crane } from '../harness/crane.js';
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { type InProcessOperator } from '../harness/operator.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { createNamespace } from '../harness/testbed.js';
import {
  SERVERIMAGE,
  conditionOf,
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
let authRegistry: TestRegistry;
let crane: Crane;
let operator: InProcessOperator;
let client: SimTestClient;
let ns: string;

beforeAll(async () => {
  bed = await startServerImageBed();
  ({ registry, crane, client } = bed);
  operator = bed.operator!;
  authRegistry = await startRegistry({ auth: 'basic' });
  ns = await createNamespace('si-faults');
});

afterAll(async () => {
  await bed?.stop();
  await authRegistry?.stop();
});

afterEach(async () => {
  registry.faults?.clear();
  await expectNothingLeftBehind(client, ns, [registry, authRegistry]);
});

const faulty = (annotation: string, value: string) => ({ annotations: { [annotation]: value } });

test('a failing snapshot ends in SnapshotFailed with KubeVirt words, and is purged', async () => {
  await createVm(client, ns, 'snap-fails', {
    annotations: { [Ann.faultSnapshot]: 'fail', [Ann.faultSnapshotMessage]: 'freeze failed: agent timeout' },
  });
  await createServerImage(client, serverImage(ns, 'snap-fails-image', 'snap-fails', registry));
  const si = await waitForPhase(client, ns, 'snap-fails-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('SnapshotFailed');
  expect(conditionOf(si, 'Ready')?.message).toContain('freeze failed: agent timeout');
  await until(
    'purge recorded',
    async () =>
      conditionOf((await client.get(SERVERIMAGE, ns, 'snap-fails-image'))!, 'Purged')?.status === 'True',
  );
});

test('an export that never gets ready ends in ExportTimeout after the deadline, and is purged', async () => {
  await createVm(client, ns, 'export-stuck', faulty(Ann.faultExport, 'never-ready'));
  await createServerImage(client, serverImage(ns, 'export-stuck-image', 'export-stuck', registry));
  const si = await waitForPhase(client, ns, 'export-stuck-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('ExportTimeout');
  expect(conditionOf(si, 'Snapshotted')?.status).toBe('True');
});

test('a registry answering 503 for a while is retried, and the image becomes Active', async () => {
  const shas = await createVm(client, ns, 'registry-down');
  registry.faults!.respond(503, { forMs: 4000 });
  await createServerImage(client, serverImage(ns, 'registry-down-image', 'registry-down', registry));
  const si = await waitForPhase(client, ns, 'registry-down-image', 'Active', 90_000);
  expect(registry.requests.some((r) => r.injected && r.status === 503)).toBe(true);
  expect(await imageDiskSha256(crane, si.status.images[0].reference)).toBe(shas.rootdisk);
});

test('an export connection dropped mid-stream is resumed with the same bytes', async () => {
  const shas = await createVm(client, ns, 'drops', faulty(Ann.faultDropAfterBytes, String(1024 * 1024)));
  await createServerImage(client, serverImage(ns, 'drops-image', 'drops', registry));
  const si = await waitForPhase(client, ns, 'drops-image', 'Active');
  expect(await imageDiskSha256(crane, si.status.images[0].reference)).toBe(shas.rootdisk);
});

test('wrong registry credentials end in RegistryUnauthorized without a retry storm', async () => {
  await createVm(client, ns, 'bad-creds');
  await client.core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'regcred' },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: authRegistry.username!, password: 'not-the-password' },
    },
  });
  const before = authRegistry.requests.length;
  await createServerImage(
    client,
    serverImage(ns, 'bad-creds-image', 'bad-creds', authRegistry, {
      registry: { credentialsSecretRef: { name: 'regcred' } },
    }),
  );
  const si = await waitForPhase(client, ns, 'bad-creds-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('RegistryUnauthorized');
  expect(authRegistry.requests.length - before).toBeLessThanOrEqual(4);
});

test('a VM deleted mid-way ends in ServerDeleted, and is purged', async () => {
  await createVm(client, ns, 'vanishes', {
    annotations: {
      [Ann.faultVmChange]: 'export-read=Deleted',
      [Ann.faultBytesPerSecond]: String(512 * 1024),
    },
  });
  await createServerImage(client, serverImage(ns, 'vanishes-image', 'vanishes', registry));
  const si = await waitForPhase(client, ns, 'vanishes-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('ServerDeleted');
  expect(si.status.images ?? []).toEqual([]);
});

describe('deleting a ServerImage', () => {
  test('with deletionPolicy Delete removes its image; Retain keeps it', async () => {
    await createVm(client, ns, 'policy');
    await createServerImage(
      client,
      serverImage(ns, 'policy-delete', 'policy', registry, { deletionPolicy: 'Delete' }),
    );
    const deleted = await waitForPhase(client, ns, 'policy-delete', 'Active');
    await createServerImage(client, serverImage(ns, 'policy-retain', 'policy', registry));
    const retained = await waitForPhase(client, ns, 'policy-retain', 'Active');

    await client.delete(SERVERIMAGE, ns, 'policy-delete');
    await client.delete(SERVERIMAGE, ns, 'policy-retain');
    await until(
      'both ServerImages gone',
      async () =>
        !(await client.get(SERVERIMAGE, ns, 'policy-delete')) &&
        !(await client.get(SERVERIMAGE, ns, 'policy-retain')),
    );
    const gone = await crane.run(['manifest', deleted.status.images[0].reference]);
    expect(gone.code).not.toBe(0);
    expect(await crane.digest(retained.status.images[0].reference)).toBe(retained.status.images[0].digest);
  });

  test('while Saving stops the transfer and leaves nothing behind', async () => {
    await createVm(client, ns, 'abandoned', faulty(Ann.faultBytesPerSecond, String(256 * 1024)));
    await createServerImage(client, serverImage(ns, 'abandoned-image', 'abandoned', registry));
    await until(
      'upload under way',
      async () => (await client.get(SERVERIMAGE, ns, 'abandoned-image'))?.status?.progress?.bytesDone > 0,
    );
    await client.delete(SERVERIMAGE, ns, 'abandoned-image');
    await until('ServerImage gone', async () => !(await client.get(SERVERIMAGE, ns, 'abandoned-image')));
    expect(operator.transfers.running()).toBe(0);
  });
});
