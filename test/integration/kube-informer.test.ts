// The informer on the real API server: initial list, events with (old, new), the cache
// and recovery after real connection failures.
import { Informer } from '../../src/kube/informer.js';
import { installProjectCrds } from '../harness/crds.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import {
  SERVER_IMAGES,
  type ServerImageObject,
  type TcpProxy,
  createServerImage,
  customObjects,
  deleteServerImage,
  eventually,
  startTcpProxy,
} from './kube-fixtures.js';

const informers: Informer<ServerImageObject>[] = [];

beforeAll(async () => {
  await installProjectCrds();
});

afterEach(async () => {
  await Promise.all(informers.splice(0).map((i) => i.stop()));
});

function track(i: Informer<ServerImageObject>) {
  informers.push(i);
  const seen = { added: [] as string[], updated: [] as [string, string][], deleted: [] as string[] };
  i.addHandlers({
    onAdd: (o) => seen.added.push(o.metadata!.name!),
    onUpdate: (a, b) => seen.updated.push([a.metadata!.resourceVersion!, b.metadata!.resourceVersion!]),
    onDelete: (o) => seen.deleted.push(o.metadata!.name!),
  });
  return seen;
}

test('lists, then delivers add/update/delete and keeps the cache right', async () => {
  const ns = await createNamespace('kube-inf-events');
  await createServerImage(ns, 'before');
  const informer = new Informer<ServerImageObject>({
    kubeConfig: kubeConfig(),
    resource: SERVER_IMAGES,
    namespace: ns,
  });
  const seen = track(informer);
  expect(informer.hasSynced()).toBe(false);
  informer.start();
  await informer.waitForSync();
  expect(informer.hasSynced()).toBe(true);
  expect(seen.added).toEqual(['before']);
  expect(informer.get('before', ns)?.metadata?.name).toBe('before');

  await createServerImage(ns, 'after');
  await eventually('add of "after"', () => seen.added.includes('after'));
  expect(
    informer
      .list(ns)
      .map((o) => o.metadata!.name)
      .sort(),
  ).toEqual(['after', 'before']);

  await customObjects().patchNamespacedCustomObject({
    ...{ group: SERVER_IMAGES.group, version: SERVER_IMAGES.version, plural: SERVER_IMAGES.plural },
    namespace: ns,
    name: 'after',
    body: [{ op: 'add', path: '/metadata/labels', value: { touched: 'yes' } }],
  });
  await eventually('update of "after"', () => seen.updated.length === 1);
  const [oldRv, newRv] = seen.updated[0]!;
  expect(oldRv).not.toBe(newRv);
  expect(informer.getByKey(`${ns}/after`)?.metadata?.labels).toEqual({ touched: 'yes' });

  await deleteServerImage(ns, 'before');
  await eventually('delete of "before"', () => seen.deleted.includes('before'));
  expect(informer.get('before', ns)).toBeUndefined();
  expect(informer.list().map((o) => o.metadata!.name)).toEqual(['after']);
});

describe('after connection failures', () => {
  let proxy: TcpProxy;
  beforeEach(async () => {
    proxy = await startTcpProxy();
  });
  afterEach(async () => {
    await proxy.stop();
  });

  test('restarts with backoff and catches up on what changed meanwhile', async () => {
    const ns = await createNamespace('kube-inf-restart');
    await createServerImage(ns, 'a');
    await createServerImage(ns, 'doomed');
    const informer = new Informer<ServerImageObject>({
      kubeConfig: proxy.kubeConfig,
      resource: SERVER_IMAGES,
      namespace: ns,
      restartBackoff: { initialMs: 100, maxMs: 400 },
    });
    const seen = track(informer);
    informer.start();
    await informer.waitForSync();
    expect(informer.connections()).toBe(1);

    // The API server becomes unreachable: the open watch is reset and reconnects fail.
    proxy.refuse();
    proxy.cut();
    await eventually('a failed restart', () => informer.restarts() >= 2);
    // Changes while the informer is blind (made directly, not through the proxy).
    await createServerImage(ns, 'b');
    await deleteServerImage(ns, 'doomed');
    expect(informer.get('b', ns)).toBeUndefined();
    proxy.allow();

    await eventually('b added after recovery', () => seen.added.includes('b'));
    await eventually('doomed deleted after recovery', () => seen.deleted.includes('doomed'));
    expect(
      informer
        .list()
        .map((o) => o.metadata!.name)
        .sort(),
    ).toEqual(['a', 'b']);
    expect(informer.lastFailure()).toBeDefined();

    // And it keeps watching.
    await createServerImage(ns, 'c');
    await eventually('c added', () => seen.added.includes('c'));
    expect(seen.added.filter((n) => n === 'a')).toEqual(['a']);
  });

  test('a failing first list is retried until it succeeds', async () => {
    const ns = await createNamespace('kube-inf-list');
    await createServerImage(ns, 'x');
    proxy.refuse();
    const informer = new Informer<ServerImageObject>({
      kubeConfig: proxy.kubeConfig,
      resource: SERVER_IMAGES,
      namespace: ns,
      restartBackoff: { initialMs: 100, maxMs: 400 },
    });
    track(informer);
    informer.start();
    await eventually('two failed starts', () => informer.restarts() >= 2);
    expect(informer.hasSynced()).toBe(false);
    proxy.allow();
    await informer.waitForSync();
    expect(informer.get('x', ns)).toBeDefined();
  });
});
