// The push step with transfer Pods: the step reads the Pod of the current attempt (the
// informer's cache, faked here) and decides: make one, follow it, take its result, count its
// failure and make the next attempt with what the failed one left. The Pods are laid out by
// the real builder (pod-spec.ts) and read by the real pod-outcome.ts; only the API and the
// progress poller are fakes.
import type { V1Pod } from '@kubernetes/client-node';
import { loadConfig } from '../../../src/config.js';
import type { Deps } from '../../../src/controllers/serverimage/deps.js';
import { currentAttempt, pushStep } from '../../../src/controllers/serverimage/push-step.js';
import { RegistryBackoff } from '../../../src/controllers/serverimage/registry-backoff.js';
import { Scope } from '../../../src/controllers/serverimage/scope.js';
import { attemptOf } from '../../../src/controllers/serverimage/transfer-pods.js';
import { requestOf } from '../../../src/controllers/serverimage/transfer-request.js';
import type { ServerImageObject } from '../../../src/controllers/serverimage/types.js';
import { childNames } from '../../../src/controllers/serverimage/child-names.js';
import type { ExportView } from '../../../src/kubevirt/export.js';
import { encodeResult, type TransferResult } from '../../../src/transfer/result.js';

const T0 = new Date('2026-12-05T20:00:00Z');
/** The per-registry backoff's clock, moved by the tests that wait one out. */
let now = T0.getTime();
beforeEach(() => {
  now = T0.getTime();
});
const UID = '0123abcd-0000-0000-0000-000000000000';

const si = (
  status: ServerImageObject['status'] = {},
  annotations: Record<string, string> = {},
): ServerImageObject => ({
  apiVersion: 'serverimage.io/v1alpha1',
  kind: 'ServerImage',
  metadata: { name: 'web-image', namespace: 'prod', uid: UID, generation: 1, annotations },
  spec: {
    serverRef: { name: 'web' },
    registry: { repository: 'registry.example/vms/web', insecure: true },
    format: { compression: 'gzip', disk: 'raw', layout: 'containerDisk' },
    deletionPolicy: 'Retain',
  },
  status: { phase: 'Saving', startTime: '2026-12-05T19:59:00Z', server: { uid: 'vm-uid' }, ...status },
});

const volumes = [
  { name: 'rootdisk', claimName: 'web-rootdisk' },
  { name: 'data', claimName: 'web-data' },
];
const exported: ExportView = {
  name: 'web-image-0123abcd',
  phase: 'Ready',
  ready: true,
  caPem: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n',
  rawUrls: new Map([
    ['web-rootdisk', 'https://virt-export-web.prod.svc/volumes/web-rootdisk/disk.img'],
    ['web-data', 'https://virt-export-web.prod.svc/volumes/web-data/disk.img'],
  ]),
};

interface Fakes {
  deps: Deps;
  pods: V1Pod[];
  created: V1Pod[];
  deleted: string[];
  followed: Array<{ key: string; ip: string }>;
  sessions: Array<string | undefined>;
  pushedMetrics: Array<[number, number]>;
}

function fakes(pods: V1Pod[] = []): Fakes {
  const f: Omit<Fakes, 'deps'> = {
    pods,
    created: [],
    deleted: [],
    followed: [],
    sessions: [],
    pushedMetrics: [],
  };
  const config = loadConfig(['--transfer-image=operator:1', '--registry-retry-timeout=10m'], {});
  const taken = new Set<string>();
  const deps = {
    config,
    registryBackoff: new RegistryBackoff(() => now),
    vms: { get: () => undefined, getByKey: () => undefined, list: () => [] },
    serverImages: { get: () => undefined, getByKey: () => undefined, list: () => [] },
    children: { names: (o: ServerImageObject) => childNames(o.metadata.name, o.metadata.uid) },
    transferPods: {
      of: () => [...f.pods].sort((a, b) => attemptOf(a) - attemptOf(b)),
      create: async (pod: V1Pod) => {
        f.created.push(pod);
      },
      delete: async (pod: V1Pod) => {
        f.deleted.push(pod.metadata!.name!);
        return true;
      },
      exporterNode: async () => 'node-a',
      firstTake: (pod: V1Pod) => !taken.has(pod.metadata!.name!) && Boolean(taken.add(pod.metadata!.name!)),
    },
    progress: {
      follow: (key: string, ip: string) => f.followed.push({ key, ip }),
      stop: () => undefined,
    },
    metrics: { pushed: (bytes: number, seconds: number) => f.pushedMetrics.push([bytes, seconds]) },
    recordUploadSession: async (_key: string, location: string | undefined) => {
      f.sessions.push(location);
    },
  } as unknown as Deps;
  return { ...f, deps };
}

/** A Pod made by the step, with the status the kubelet would give it. */
function withStatus(pod: V1Pod, status: V1Pod['status']): V1Pod {
  return { ...pod, spec: { ...pod.spec!, nodeName: 'node-a' }, status };
}

const terminated = (exitCode: number, reason: string, result?: TransferResult): V1Pod['status'] => ({
  phase: exitCode === 0 ? 'Succeeded' : 'Failed',
  containerStatuses: [
    {
      name: 'transfer',
      image: 'operator:1',
      imageID: '',
      ready: false,
      restartCount: 0,
      state: { terminated: { exitCode, reason, ...(result ? { message: encodeResult(result) } : {}) } },
    },
  ],
});

const layer = {
  digest: 'sha256:' + 'a'.repeat(64),
  size: 1000,
  diffId: 'sha256:' + 'b'.repeat(64),
  diskSize: 4096,
  diskFormat: 'raw' as const,
  fileSize: 4096,
};

async function firstPod(): Promise<V1Pod> {
  const f = fakes();
  const scope = new Scope(si(), T0);
  await pushStep(scope, f.deps, volumes, exported);
  return f.created[0]!;
}

test('no Pod yet: attempt 1 is made with every volume, secrets as volumes, the exporter node preferred', async () => {
  const f = fakes();
  const scope = new Scope(si(), T0);
  expect(currentAttempt(scope)).toBe(1);
  expect(await pushStep(scope, f.deps, volumes, exported)).toBeUndefined();
  expect(f.created.map((p) => p.metadata?.name)).toEqual(['web-image-0123abcd-transfer-1']);
  const pod = f.created[0]!;
  expect(pod.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'ServerImage', uid: UID })]);
  const request = requestOf(pod)!;
  expect(request.volumes.map((v) => [v.volume, v.tag])).toEqual([
    ['rootdisk', 'web-image'],
    ['data', 'web-image-data'],
  ]);
  expect(request.created).toBe('2026-12-05T19:59:00.000Z');
  // Nothing secret in the environment: the token and credentials are Secret volumes.
  expect(pod.spec?.containers[0]?.env?.[0]?.value).not.toMatch(/token|password/i);
  expect(pod.spec?.volumes?.map((v) => v.secret?.secretName)).toEqual(['web-image-0123abcd-export-token']);
  expect(JSON.stringify(pod.spec?.affinity)).toContain('node-a');
  expect(scope.condition('Pushed')).toMatchObject({ status: 'False', reason: 'TransferPodPending' });
});

test('a running Pod is followed (its progress polled at its IP), never made twice', async () => {
  const pod = withStatus(await firstPod(), {
    phase: 'Running',
    podIP: '10.1.1.7',
    containerStatuses: [
      { name: 'transfer', image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: {} } },
    ],
  });
  const f = fakes([pod]);
  const scope = new Scope(si(), T0);
  await pushStep(scope, f.deps, volumes, exported);
  expect(f.created).toEqual([]);
  expect(f.followed).toEqual([{ key: 'prod/web-image', ip: '10.1.1.7' }]);
  expect(scope.condition('Pushed')?.message).toContain('in transfer Pod web-image-0123abcd-transfer-1');
});

test('a succeeded Pod: its result becomes status.images in volume order, counted once in the metrics, progress complete', async () => {
  const result: TransferResult = {
    version: 1,
    succeeded: true,
    volumes: [
      { volume: 'rootdisk', digest: 'sha256:r', size: 4096, diskFormat: 'raw', layerSize: 900, seconds: 2 },
      { volume: 'data', digest: 'sha256:d', size: 2048, diskFormat: 'raw', layerSize: 100, seconds: 1 },
    ],
  };
  const pod = withStatus(await firstPod(), terminated(0, 'Completed', result));
  const f = fakes([pod]);
  const scope = new Scope(si({ retry: { step: 'Pushed', since: T0.toISOString(), attempts: 0 } }), T0);
  await pushStep(scope, f.deps, volumes, exported);
  expect(scope.status.images).toEqual([
    {
      volume: 'rootdisk',
      reference: 'registry.example/vms/web:web-image',
      digest: 'sha256:r',
      size: 900,
      diskSize: 4096,
      diskFormat: 'raw',
    },
    {
      volume: 'data',
      reference: 'registry.example/vms/web:web-image-data',
      digest: 'sha256:d',
      size: 100,
      diskSize: 2048,
      diskFormat: 'raw',
    },
  ]);
  expect(f.pushedMetrics).toEqual([
    [4096, 2],
    [2048, 1],
  ]);
  // Complete, whatever the last progress poll read before the Pod ended.
  expect(scope.status.progress).toEqual({ bytesDone: 6144, bytesTotal: 6144 });
  expect(scope.status.retry).toBeUndefined();
  expect(f.created).toEqual([]);
});

test('a succeeded Pod read again before the status write is seen: the same images, counted once', async () => {
  const result: TransferResult = {
    version: 1,
    succeeded: true,
    volumes: [
      { volume: 'rootdisk', digest: 'sha256:r', size: 4096, diskFormat: 'raw', layerSize: 900, seconds: 2 },
    ],
  };
  const pod = withStatus(await firstPod(), terminated(0, 'Completed', result));
  const f = fakes([pod]);
  const stale = () => new Scope(si({ retry: { step: 'Pushed', since: T0.toISOString(), attempts: 0 } }), T0);
  const first = stale();
  await pushStep(first, f.deps, volumes, exported);
  const again = stale();
  await pushStep(again, f.deps, volumes, exported);
  expect(again.status.images).toEqual(first.status.images);
  expect(f.pushedMetrics).toEqual([[4096, 2]]);
});

test('an OOMKilled Pod is a counted failure in its words; the next attempt gets its layer and session, then it goes', async () => {
  // It pushed rootdisk, then died on data with the layer done and a session open (its
  // last progress; the annotation holds it): no result, OOMKilled.
  const first = await firstPod();
  const oom = withStatus(first, terminated(137, 'OOMKilled'));
  const f = fakes([oom]);
  const session = 'http://registry.example/v2/vms/web/blobs/uploads/abc';
  const scope = new Scope(si({}, { 'serverimage.io/upload-session': session }), T0);
  const wait = await pushStep(scope, f.deps, volumes, exported);
  expect(wait).toEqual({ requeueAfter: 2000 });
  expect(scope.status.retry).toMatchObject({ step: 'Pushed', attempts: 1 });
  expect(scope.status.phase).toBe('Saving');
  expect(scope.events).toContainEqual(
    expect.objectContaining({ type: 'Warning', reason: 'TransferPodOOMKilled' }),
  );
  expect(scope.condition('Pushed')?.message).toMatch(/OOMKilled.*--transfer-memory-limit.*attempt 2 in 2s/);
  // No word from the Pod on its session: the recorded one stays for the next attempt.
  expect(f.sessions).toEqual([]);

  // A later reconcile (a new process, say): the backoff is over, attempt 2 is made.
  const written = { ...si().status, ...(scope.statusChanges() as ServerImageObject['status']) };
  const later = new Scope(
    si(written, { 'serverimage.io/upload-session': session }),
    new Date(T0.getTime() + 3000),
  );
  expect(currentAttempt(later)).toBe(2);
  await pushStep(later, f.deps, volumes, exported);
  expect(f.created.map((p) => p.metadata?.name)).toEqual(['web-image-0123abcd-transfer-2']);
  expect(requestOf(f.created[0]!)?.staleUploadSession).toBe(session);
  expect(f.deleted).toEqual(['web-image-0123abcd-transfer-1']);
});

test('a failed Pod with a result: pushed volumes kept, its completed layer passed on, its session word recorded', async () => {
  const result: TransferResult = {
    version: 1,
    succeeded: false,
    volumes: [{ volume: 'rootdisk', digest: 'sha256:r', size: 4096, diskFormat: 'raw', layerSize: 900 }],
    layer: { volume: 'data', ...layer },
    error: { reason: 'RegistryUnavailable', message: 'registry answered 503', retryable: true },
  };
  const failed = withStatus(await firstPod(), terminated(75, 'Error', result));
  const f = fakes([failed]);
  const scope = new Scope(si({}, { 'serverimage.io/upload-session': 'http://old' }), T0);
  await pushStep(scope, f.deps, volumes, exported);
  expect(scope.status.images?.map((i) => i.volume)).toEqual(['rootdisk']);
  // The Pod cancelled its session (no uploadSession in its result): the record goes.
  expect(f.sessions).toEqual([undefined]);
  const written = { ...si().status, ...(scope.statusChanges() as ServerImageObject['status']) };
  now = T0.getTime() + 60_000;
  const later = new Scope(si(written), new Date(now));
  await pushStep(later, f.deps, volumes, exported);
  const next = requestOf(f.created[0]!)!;
  expect(next.volumes.map((v) => v.volume)).toEqual(['data']);
  expect(next.uploadedLayers).toEqual({ data: layer });
});

test('a failure no retry helps ends in Error at once, in the Pod words', async () => {
  const result: TransferResult = {
    version: 1,
    succeeded: false,
    volumes: [],
    error: { reason: 'RegistryForbidden', message: 'push to vms/web denied', retryable: false },
  };
  const failed = withStatus(await firstPod(), terminated(65, 'Error', result));
  const f = fakes([failed]);
  const scope = new Scope(si(), T0);
  await pushStep(scope, f.deps, volumes, exported);
  expect(scope.status.phase).toBe('Error');
  expect(scope.condition('Ready')).toMatchObject({
    reason: 'RegistryForbidden',
    message: 'push to vms/web denied',
  });
});

test('a pending Pod says why, in the scheduler words, and is looked at again for its graces', async () => {
  const pending = withStatus(await firstPod(), {
    phase: 'Pending',
    conditions: [
      {
        type: 'PodScheduled',
        status: 'False',
        reason: 'Unschedulable',
        message: '0/2 nodes are available: 2 Insufficient memory.',
        lastTransitionTime: T0,
      },
    ],
  });
  pending.spec!.nodeName = undefined;
  const f = fakes([pending]);
  const scope = new Scope(si(), T0);
  expect(await pushStep(scope, f.deps, volumes, exported)).toEqual({ requeueAfter: 10_000 });
  expect(scope.condition('Pushed')).toMatchObject({ reason: 'TransferPodPending' });
  expect(scope.condition('Pushed')?.message).toContain('2 Insufficient memory');
  // Past the grace: Error, naming the flags that place the Pod.
  const late = new Scope(si(), new Date(T0.getTime() + 6 * 60_000));
  await pushStep(late, f.deps, volumes, exported);
  expect(late.status.phase).toBe('Error');
  expect(late.condition('Ready')?.reason).toBe('TransferPodUnschedulable');
  expect(late.condition('Ready')?.message).toContain('--transfer-node-selector');
});
