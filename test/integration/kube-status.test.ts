// Status and finalizer writes on a real ServerImage: merge patch on /status (and only
// status changes), conditions round-trip through the CRD schema, optimistic locks.
import * as k8s from '@kubernetes/client-node';
import { setCondition } from '../../src/kube/conditions.js';
import { isConflict } from '../../src/kube/errors.js';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../src/kube/finalizers.js';
import { patchStatus } from '../../src/kube/status.js';
import { installProjectCrds } from '../harness/crds.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import {
  SERVER_IMAGES,
  type ServerImageObject,
  createServerImage,
  customObjects,
  deleteServerImage,
  getServerImage,
} from './kube-fixtures.js';

let namespace: string;
beforeAll(async () => {
  await installProjectCrds();
  namespace = await createNamespace('kube-status');
});

const target = (name: string) => ({ resource: SERVER_IMAGES, namespace, name });
const catchErr = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

test('patches status with conditions; spec and other status fields are kept', async () => {
  const created = await createServerImage(namespace, 'status-1');
  const { conditions } = setCondition(undefined, {
    type: 'Ready',
    status: 'False',
    reason: 'Queued',
    message: 'waiting for the VM',
    observedGeneration: created.metadata!.generation,
  });
  await patchStatus(customObjects(), target('status-1'), {
    phase: 'Queued',
    observedGeneration: created.metadata!.generation,
    conditions,
  });
  // A second patch touching only progress leaves phase and conditions alone.
  const patched = await patchStatus<ServerImageObject>(customObjects(), target('status-1'), {
    progress: { bytesDone: 10, bytesTotal: 100 },
  });
  expect(patched.status).toMatchObject({ phase: 'Queued', progress: { bytesDone: 10, bytesTotal: 100 } });
  const read = await getServerImage(namespace, 'status-1');
  expect(read.status?.conditions).toEqual(conditions);
  expect(read.spec).toEqual(created.spec);
  expect(read.metadata!.generation).toBe(created.metadata!.generation);

  // null deletes a field (merge patch semantics).
  const cleared = await patchStatus<ServerImageObject>(customObjects(), target('status-1'), {
    progress: null,
  });
  expect(cleared.status?.progress).toBeUndefined();
});

test('the status subresource ignores spec changes', async () => {
  await createServerImage(namespace, 'status-2');
  await customObjects().patchNamespacedCustomObjectStatus(
    {
      group: SERVER_IMAGES.group,
      version: SERVER_IMAGES.version,
      plural: SERVER_IMAGES.plural,
      namespace,
      name: 'status-2',
      body: { spec: { serverRef: { name: 'other' } }, status: { phase: 'Saving' } },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  const read = await getServerImage(namespace, 'status-2');
  expect(read.status?.phase).toBe('Saving');
  expect((read.spec as { serverRef: { name: string } }).serverRef.name).toBe('vm');
});

test('an optimistic status patch with a stale resourceVersion is refused with 409', async () => {
  const created = await createServerImage(namespace, 'status-3');
  await patchStatus(
    customObjects(),
    target('status-3'),
    { phase: 'Queued' },
    {
      resourceVersion: created.metadata!.resourceVersion,
    },
  );
  const err = await catchErr(
    patchStatus(
      customObjects(),
      target('status-3'),
      { phase: 'Saving' },
      {
        resourceVersion: created.metadata!.resourceVersion,
      },
    ),
  );
  expect(isConflict(err)).toBe(true);
  expect((await getServerImage(namespace, 'status-3')).status?.phase).toBe('Queued');
});

test('an invalid condition is refused by the CRD schema', async () => {
  await createServerImage(namespace, 'status-4');
  const err = await catchErr(
    patchStatus(customObjects(), target('status-4'), {
      conditions: [{ type: 'Ready', status: 'Maybe', reason: 'x', message: '', lastTransitionTime: 'now' }],
    }),
  );
  expect((err as { code?: number }).code).toBe(422);
});

describe('finalizers', () => {
  const objects = () => k8s.KubernetesObjectApi.makeApiClient(kubeConfig());
  const FINALIZER = 'serverimage.io/registry-cleanup';

  test('add is idempotent, remove lets a deleted object go', async () => {
    const created = await createServerImage(namespace, 'fin-1');
    const withFinalizer = await addFinalizer(objects(), created, FINALIZER);
    expect(withFinalizer.metadata?.finalizers).toEqual([FINALIZER]);
    // Already there: no request, same object back.
    expect(await addFinalizer(objects(), withFinalizer, FINALIZER)).toBe(withFinalizer);

    await deleteServerImage(namespace, 'fin-1');
    const terminating = await getServerImage(namespace, 'fin-1');
    expect(terminating.metadata?.deletionTimestamp).toBeDefined();
    const last = await removeFinalizer(objects(), terminating, FINALIZER);
    expect(last?.metadata?.finalizers ?? []).toEqual([]);
    const gone = await catchErr(getServerImage(namespace, 'fin-1'));
    expect((gone as { code?: number }).code).toBe(404);
    // Removing from an object that is gone is not an error.
    expect(await removeFinalizer(objects(), terminating, FINALIZER)).toBeUndefined();
  });

  test("a stale copy cannot drop someone else's finalizer: 409", async () => {
    const created = await createServerImage(namespace, 'fin-2');
    const ours = await addFinalizer(objects(), created, FINALIZER);
    // Another controller adds its finalizer meanwhile.
    await addFinalizer(objects(), ours, 'example.com/other');
    const err = await catchErr(removeFinalizer(objects(), ours, FINALIZER));
    expect(isConflict(err)).toBe(true);
    const fresh = await getServerImage(namespace, 'fin-2');
    expect(fresh.metadata?.finalizers).toEqual([FINALIZER, 'example.com/other']);
    const after = await removeFinalizer(objects(), fresh, FINALIZER);
    expect(after?.metadata?.finalizers).toEqual(['example.com/other']);
    expect(hasFinalizer(after!, FINALIZER)).toBe(false);
    await removeFinalizer(objects(), after!, 'example.com/other');
  });
});
