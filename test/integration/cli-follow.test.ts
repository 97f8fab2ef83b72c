// The CLI's watch (src/cli/follow.ts) across watch ends: with watches that the API server
// closes after one second, a ServerImage is still followed from creation to Active,
// every change seen once, in order, and each reopened watch picks up where the last ended.
// On KubeVirt's real virt-controller (kubevirt/real/bed.ts); the transfer is paced at the
// export's Service proxy.
import { followServerImage } from '../../src/cli/follow.js';
import { ServerImageClient, type StoredServerImage } from '../../src/cli/server-image-client.js';
import { waitFor } from '../../src/cli/wait.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import type { SimTestClient } from '../harness/kubevirt/testing.js';
import type { TestRegistry } from '../harness/registry.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import {
  createServerImage,
  createVm,
  serverImage,
  startServerImageBed,
  type ServerImageBed,
} from './serverimage-fixtures.js';

let bed: ServerImageBed;
let registry: TestRegistry;
let client: SimTestClient;
let images: ServerImageClient;
let ns: string;
let recorder: ReturnType<typeof recordManagers>;

beforeAll(async () => {
  bed = await startServerImageBed([]);
  ({ registry, client } = bed);
  images = new ServerImageClient(kubeConfig());
  ns = await createNamespace('cli-follow');
  recorder = recordManagers(ns);
  await recorder.start();
  // About four seconds of transfer: several one-second watches.
  await createVm(client, ns, 'vm', {
    disks: [{ volume: 'rootdisk', size: 4 * 2 ** 20 }],
    annotations: { [Ann.faultBytesPerSecond]: String(2 ** 20) },
  });
}, 180_000); // the real-controller bed starts in 12-25 s, more on a loaded machine

afterAll(async () => {
  await recorder?.stop();
  await bed?.stop();
  bed?.crane.cleanup();
});

test('followed to Active across watches the server closes every second', async () => {
  await createServerImage(client, serverImage(ns, 'followed', 'vm', registry));
  const seen: StoredServerImage[] = [];
  const reconnects: string[] = [];
  const end = await followServerImage(
    images,
    { namespace: ns, name: 'followed', watchTimeoutSeconds: 1, onReconnect: (why) => reconnects.push(why) },
    (image) => {
      seen.push(image);
      return image.status?.phase === 'Active' || image.status?.phase === 'Error';
    },
  );
  expect(end).toBe('stopped');
  expect(seen.at(-1)?.status?.phase).toBe('Active');
  expect(reconnects.length).toBeGreaterThan(0);
  expect(reconnects.every((why) => why === 'watch ended')).toBe(true);
  // Each change once and in order: resourceVersions strictly increase (etcd revisions).
  const versions = seen.map((i) => Number(i.metadata.resourceVersion));
  expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
  // Phases only move forward.
  const order = ['Queued', 'Saving', 'Active'];
  const phases = seen.map((i) => order.indexOf(i.status?.phase ?? 'Queued'));
  expect(phases).toEqual([...phases].sort((a, b) => a - b));
  // Progress was seen growing, not only the end.
  const done = seen.map((i) => i.status?.progress?.bytesDone).filter((b): b is number => b !== undefined);
  expect(new Set(done).size).toBeGreaterThan(1);
});

// The 20 s bound is liveness, not speed: a missed abort would wait for the watch to end
// (client-node's 30 s of silence at the earliest).
test('a wait for a deleted object ends as gone; an interrupt ends a wait at once', async () => {
  await createServerImage(client, serverImage(ns, 'short-lived', 'vm', registry));
  const interrupt = new AbortController();
  const interrupted = waitFor(images, {
    namespace: ns,
    name: 'short-lived',
    until: 'gone',
    timeoutMs: 60_000,
    interrupt: interrupt.signal,
    watchTimeoutSeconds: 600,
  });
  interrupt.abort();
  expect((await interrupted).kind).toBe('interrupted');

  const gone = waitFor(images, { namespace: ns, name: 'short-lived', until: 'gone', timeoutMs: 60_000 });
  await images.delete(ns, 'short-lived');
  expect(await gone).toEqual({ kind: 'gone' });
  // And when it is already gone, at once.
  expect(
    await waitFor(images, { namespace: ns, name: 'short-lived', until: 'gone', timeoutMs: 60_000 }),
  ).toEqual({
    kind: 'gone',
  });
}, 20_000);

test("every snapshot's and export's status above was written by virt-controller only", () => {
  expectStatusByVirtController(recorder);
});
