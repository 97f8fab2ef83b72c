// Events on a ServerImage, written by our recorder and read back with the real
// `kubectl describe`, as a user would.
import * as k8s from '@kubernetes/client-node';
import { EventRecorder } from '../../src/kube/events.js';
import { installProjectCrds } from '../harness/crds.js';
import { createNamespace, kubeConfig, kubectl } from '../harness/testbed.js';
import { createServerImage } from './kube-fixtures.js';

let namespace: string;
beforeAll(async () => {
  await installProjectCrds();
  namespace = await createNamespace('kube-events');
});

const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);
const eventsOf = async (name: string) =>
  (
    await core().listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.name=${name},involvedObject.kind=ServerImage`,
    })
  ).items;

test('events show in kubectl describe; repeats are aggregated into a count', async () => {
  const image = await createServerImage(namespace, 'described');
  const errors: unknown[] = [];
  const recorder = new EventRecorder(core(), {
    component: 'serverimage-operator',
    instance: 'test-pod',
    onError: (e) => errors.push(e),
  });
  await recorder.normal(image, 'Queued', 'Waiting for VirtualMachine vm');
  for (let i = 0; i < 3; i++) await recorder.warning(image, 'RegistryUnavailable', 'registry answered 503');
  await recorder.normal(image, 'SnapshotCreated', 'Created VirtualMachineSnapshot described-snap');
  expect(errors).toEqual([]);

  const events = await eventsOf('described');
  expect(events.map((e) => [e.reason, e.type, e.count]).sort()).toEqual([
    ['Queued', 'Normal', 1],
    ['RegistryUnavailable', 'Warning', 3],
    ['SnapshotCreated', 'Normal', 1],
  ]);
  expect(events.every((e) => e.involvedObject.uid === image.metadata!.uid)).toBe(true);

  const described = await kubectl(['describe', 'serverimage', 'described', '-n', namespace]);
  expect(described.code).toBe(0);
  const eventsSection = described.stdout.slice(described.stdout.indexOf('Events:'));
  expect(eventsSection).toMatch(/Normal\s+Queued\s+.*serverimage-operator\s+Waiting for VirtualMachine vm/);
  expect(eventsSection).toMatch(
    /Warning\s+RegistryUnavailable\s+.*\(x3 over .*\)\s+serverimage-operator\s+registry answered 503/,
  );
  expect(eventsSection).toMatch(/Normal\s+SnapshotCreated/);
});

test('outside the aggregation window a repeat is a new Event; concurrent repeats make one', async () => {
  const image = await createServerImage(namespace, 'windowed');
  const recorder = new EventRecorder(core(), { component: 'serverimage-operator', aggregateWindowMs: 0 });
  await recorder.normal(image, 'Retry', 'again');
  await recorder.normal(image, 'Retry', 'again');
  expect((await eventsOf('windowed')).map((e) => e.count)).toEqual([1, 1]);

  const aggregating = new EventRecorder(core(), { component: 'serverimage-operator' });
  const other = await createServerImage(namespace, 'concurrent');
  await Promise.all(Array.from({ length: 5 }, () => aggregating.warning(other, 'Burst', 'same')));
  expect((await eventsOf('concurrent')).map((e) => e.count)).toEqual([5]);
});

test('a deleted aggregated Event is created again', async () => {
  const image = await createServerImage(namespace, 'recreated');
  const recorder = new EventRecorder(core(), { component: 'serverimage-operator' });
  await recorder.normal(image, 'Tick', 'same');
  const [first] = await eventsOf('recreated');
  await core().deleteNamespacedEvent({ namespace, name: first!.metadata!.name! });
  await recorder.normal(image, 'Tick', 'same');
  const after = await eventsOf('recreated');
  expect(after).toHaveLength(1);
  expect(after[0]!.metadata!.name).not.toBe(first!.metadata!.name);
});
