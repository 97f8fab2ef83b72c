// A transfer Pod read as one outcome. The OOMKilled, Unschedulable, pull-error and evicted
// Pods in fixtures/ are what the real kernel, kubelet (v1.36.3 on containerd),
// kube-scheduler and API server (the Eviction API) wrote on the bed's real node (test/integration/transfer-pod.test.ts with
// SERVERIMAGE_TRANSFER_CAPTURE set; managedFields and the request's JSON left out). The
// other cases are built from the same Pod with the fields Kubernetes documents.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import {
  PodFailure,
  START_GRACE_MS,
  transferPodGone,
  transferPodOutcome,
  UNSCHEDULABLE_GRACE_MS,
  type TransferPodOutcome,
} from '../../../src/transfer/pod-outcome.js';
import { encodeResult, EXIT, type TransferResult } from '../../../src/transfer/result.js';

const fixture = (name: string): V1Pod =>
  JSON.parse(
    readFileSync(
      path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', `pod-${name}.json`),
      'utf8',
    ),
  ) as V1Pod;

const oomKilled = fixture('oomkilled');
const unschedulable = fixture('unschedulable');
const imagePull = fixture('image-pull');
const evicted = fixture('evicted');
const NAME = `${oomKilled.metadata!.namespace}/${oomKilled.metadata!.name}`;
const T0 = Date.parse('2026-12-05T18:37:29Z');

/** The captured OOM-killed Pod with its status replaced (a Pod scheduled on the real node). */
function withStatus(status: V1Pod['status'], metadata: Partial<V1Pod['metadata']> = {}): V1Pod {
  return { ...oomKilled, metadata: { ...oomKilled.metadata!, ...metadata }, status };
}

const scheduled = { type: 'PodScheduled', status: 'True', lastTransitionTime: new Date(T0) };
const running = withStatus({
  phase: 'Running',
  podIP: '10.88.0.7',
  conditions: [scheduled],
  containerStatuses: [
    { name: 'transfer', image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: {} } },
  ],
});

function ended(
  exitCode: number,
  result?: TransferResult,
  extra: Partial<NonNullable<V1Pod['status']>> = {},
  reason = exitCode === 0 ? 'Completed' : 'Error',
): V1Pod {
  return withStatus({
    phase: exitCode === 0 ? 'Succeeded' : 'Failed',
    conditions: [scheduled],
    containerStatuses: [
      {
        name: 'transfer',
        image: 'x',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: {
          terminated: {
            exitCode,
            reason,
            ...(result ? { message: encodeResult(result) } : {}),
          },
        },
      },
    ],
    ...extra,
  });
}

const pushed: TransferResult = {
  version: 1,
  succeeded: true,
  volumes: [{ volume: 'rootdisk', digest: 'sha256:aa', size: 1 << 20 }],
};
const cancelled: TransferResult = {
  version: 1,
  succeeded: false,
  volumes: [],
  uploadSession: 'https://registry.example.com/v2/r/blobs/uploads/x',
  error: { reason: 'TransferCancelled', message: 'the transfer Pod was stopped (SIGTERM)', retryable: true },
};

const outcome = (pod: V1Pod, now = T0 + 1000): TransferPodOutcome => transferPodOutcome(pod, { now });
const messageOf = (o: TransferPodOutcome) => (o as { message: string }).message;

test("OOMKilled (the real kernel's kill): the limit it had, and the flag and Helm value to raise", () => {
  const o = outcome(oomKilled);
  expect(o).toEqual({
    state: 'failed',
    reason: PodFailure.OOMKilled,
    retryable: true,
    exitCode: 137,
    message: `the transfer Pod ${NAME} was killed for using more memory than its limit of 24Mi (OOMKilled); raise --transfer-memory-limit (Helm value transfer.resources.limits.memory)`,
  });
});

describe("Unschedulable (the real kube-scheduler's words)", () => {
  const since = Date.parse(unschedulable.status!.conditions![0]!.lastTransitionTime as unknown as string);
  const words = unschedulable.status!.conditions![0]!.message!;
  const name = `${unschedulable.metadata!.namespace}/${unschedulable.metadata!.name}`;

  test('pending within the grace, with the message', () => {
    expect(outcome(unschedulable, since + UNSCHEDULABLE_GRACE_MS - 1)).toEqual({
      state: 'pending',
      reason: 'Unschedulable',
      message: `the transfer Pod ${name} cannot be scheduled: ${words}`,
    });
  });

  test('failed after it, not retryable, naming the settings that decide where it may run', () => {
    const o = outcome(unschedulable, since + UNSCHEDULABLE_GRACE_MS);
    expect(o).toMatchObject({ state: 'failed', reason: PodFailure.Unschedulable, retryable: false });
    expect(messageOf(o)).toBe(
      `the transfer Pod ${name} cannot be scheduled: ${words} (for 5m); its nodeSelector, tolerations, priority class and requests come from --transfer-node-selector, --transfer-tolerations, --transfer-priority-class-name and --transfer-cpu-request/--transfer-memory-request (Helm values transfer.*)`,
    );
  });

  test('a grace of its own', () => {
    const o = transferPodOutcome(unschedulable, { now: since + 2000, unschedulableGraceMs: 1000 });
    expect(o.state).toBe('failed');
  });
});

test("an image that cannot be pulled (the real kubelet's ErrImagePull): its words and the image's setting", () => {
  const o = outcome(imagePull);
  const kubelet = imagePull.status!.containerStatuses![0]!.state!.waiting!.message!;
  expect(kubelet).toMatch(/not found$/);
  expect(o).toMatchObject({ state: 'failed', reason: PodFailure.ImagePull, retryable: true });
  expect(messageOf(o)).toContain(`(ErrImagePull): ${kubelet}`);
  expect(messageOf(o)).toContain('--transfer-image');
  const backOff = structuredClone(imagePull);
  backOff.status!.containerStatuses![0]!.state!.waiting!.reason = 'ImagePullBackOff';
  expect(outcome(backOff)).toMatchObject({ reason: PodFailure.ImagePull, retryable: true });
  const invalid = structuredClone(imagePull);
  invalid.status!.containerStatuses![0]!.state!.waiting = { reason: 'InvalidImageName', message: 'bad' };
  expect(outcome(invalid)).toMatchObject({ reason: PodFailure.ImagePull, retryable: false });
});

describe('pending', () => {
  test('not yet looked at by a scheduler', () => {
    // Its spec as the builder makes it: no nodeName until a scheduler binds it.
    expect(outcome({ ...unschedulable, status: { phase: 'Pending' } })).toEqual({
      state: 'pending',
      reason: 'WaitingForScheduler',
      message: `the transfer Pod ${unschedulable.metadata!.namespace}/${unschedulable.metadata!.name} waits for the scheduler (serverimage-transfer-test) to place it`,
    });
  });

  test('no scheduler in 5 minutes: failed, naming the scheduler, retried', () => {
    const created = Date.parse(unschedulable.metadata!.creationTimestamp as unknown as string);
    const o = outcome({ ...unschedulable, status: { phase: 'Pending' } }, created + UNSCHEDULABLE_GRACE_MS);
    expect(o).toMatchObject({ state: 'failed', reason: PodFailure.NotScheduled, retryable: true });
    expect(messageOf(o)).toContain('is the scheduler serverimage-transfer-test running?');
  });

  test('scheduling gated', () => {
    const o = outcome({
      ...unschedulable,
      status: {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated', message: 'gated' }],
      },
    });
    expect(o).toMatchObject({ state: 'pending', reason: 'SchedulingGated' });
  });

  const creating = withStatus({
    phase: 'Pending',
    conditions: [scheduled],
    containerStatuses: [
      {
        name: 'transfer',
        image: 'x',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: 'ContainerCreating' } },
      },
    ],
  });

  test('starting on its node (the image pulling, volumes mounting)', () => {
    expect(outcome(creating)).toEqual({
      state: 'pending',
      reason: 'ContainerCreating',
      message: `the transfer Pod ${NAME} is starting on node ${oomKilled.spec!.nodeName} (ContainerCreating)`,
    });
  });

  test('starting for too long: failed, pointing at the events (a Secret that cannot be mounted)', () => {
    const o = outcome(creating, T0 + START_GRACE_MS);
    expect(o).toMatchObject({ state: 'failed', reason: PodFailure.NotStarting, retryable: true });
    expect(messageOf(o)).toContain(`kubectl describe pod -n ${oomKilled.metadata!.namespace}`);
  });
});

test('running: its node and IP (for /progress)', () => {
  expect(outcome(running)).toEqual({ state: 'running', node: oomKilled.spec!.nodeName, podIP: '10.88.0.7' });
});

test('running while being deleted is still running, never final: the Pod writes its result on SIGTERM', () => {
  const deleting = { ...running, metadata: { ...running.metadata!, deletionTimestamp: new Date(T0) } };
  expect(outcome(deleting)).toMatchObject({ state: 'running', stopping: 'the Pod is being deleted' });
  deleting.status = {
    ...deleting.status!,
    conditions: [
      scheduled,
      {
        type: 'DisruptionTarget',
        status: 'True',
        reason: 'EvictionByEvictionAPI',
        message: 'Eviction API: evicting',
      },
    ],
  };
  expect(outcome(deleting)).toMatchObject({
    state: 'running',
    stopping: 'evicted (a node drain, or the Eviction API): Eviction API: evicting',
  });
});

test('succeeded: the decoded result', () => {
  expect(outcome(ended(0, pushed))).toEqual({ state: 'succeeded', result: pushed });
});

test('a failed result: its own reason, words and verdict, with what it carries for the next attempt', () => {
  const refused: TransferResult = {
    version: 1,
    succeeded: false,
    volumes: [],
    error: {
      reason: 'RegistryUnauthorized',
      message: 'registry.example.com refused the credentials',
      retryable: false,
    },
  };
  expect(outcome(ended(EXIT.permanent, refused))).toEqual({
    state: 'failed',
    reason: 'RegistryUnauthorized',
    message: 'registry.example.com refused the credentials',
    retryable: false,
    result: refused,
    exitCode: EXIT.permanent,
  });
});

describe('a container that died without a message', () => {
  test('SIGKILL: the exit code and signal, worth another attempt', () => {
    const o = outcome(ended(137));
    expect(o).toMatchObject({ state: 'failed', reason: PodFailure.Killed, retryable: true, exitCode: 137 });
    expect(messageOf(o)).toBe(
      `the transfer Pod ${NAME} ended with exit code 137 (SIGKILL) and left no result`,
    );
  });

  test('our own exit codes still say whether a retry helps', () => {
    expect(outcome(ended(EXIT.permanent))).toMatchObject({ retryable: false });
    expect(outcome(ended(EXIT.badRequest))).toMatchObject({ retryable: false });
    expect(outcome(ended(EXIT.retryable))).toMatchObject({ retryable: true });
  });

  test('exit 0 without a result: not a success', () => {
    const o = outcome(ended(0));
    expect(o).toMatchObject({
      state: 'failed',
      reason: PodFailure.ResultMissing,
      retryable: true,
      exitCode: 0,
    });
    expect(messageOf(o)).toContain('exited 0 but its termination message is not a transfer result (empty)');
  });

  test('a message that is not ours is quoted', () => {
    const pod = ended(1);
    pod.status!.containerStatuses![0]!.state!.terminated!.message = 'node: bad option';
    expect(messageOf(outcome(pod))).toContain('exit code 1 and left no result: node: bad option');
  });
});

test("evicted by the kubelet (node pressure): the kubelet's words; the result's open session kept", () => {
  const pod = ended(EXIT.terminated, cancelled, {
    reason: 'Evicted',
    message: 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi.',
  });
  expect(outcome(pod)).toEqual({
    state: 'failed',
    reason: PodFailure.Evicted,
    message: `the transfer Pod ${NAME} was evicted by its node's kubelet: The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi.`,
    retryable: true,
    result: cancelled,
    exitCode: EXIT.terminated,
  });
});

test('evicted mid-push (the real Eviction API and kubelet): who stopped it, and the result it wrote on SIGTERM', () => {
  const name = `${evicted.metadata!.namespace}/${evicted.metadata!.name}`;
  expect(outcome(evicted)).toEqual({
    state: 'failed',
    reason: PodFailure.Evicted,
    message: `the transfer Pod ${name} was stopped: evicted (a node drain, or the Eviction API): Eviction API: evicting`,
    retryable: true,
    exitCode: EXIT.terminated,
    result: expect.objectContaining({
      succeeded: false,
      error: {
        reason: 'TransferCancelled',
        message: 'the transfer Pod was stopped (SIGTERM)',
        retryable: true,
      },
    }),
  });
});

test.each([
  ['PreemptionByScheduler', PodFailure.Preempted, 'preempted by the scheduler for a Pod of higher priority'],
  ['EvictionByEvictionAPI', PodFailure.Evicted, 'evicted (a node drain, or the Eviction API)'],
  ['DeletionByTaintManager', PodFailure.NodeLost, 'its node is not ready or unreachable'],
])(
  'stopped on SIGTERM with DisruptionTarget %s: who stopped it, not just "SIGTERM"',
  (reason, ours, words) => {
    const pod = ended(EXIT.terminated, cancelled, {
      conditions: [scheduled, { type: 'DisruptionTarget', status: 'True', reason, message: 'their words' }],
    });
    const o = outcome(pod);
    expect(o).toMatchObject({ state: 'failed', reason: ours, retryable: true, result: cancelled });
    expect(messageOf(o)).toContain(words);
    expect(messageOf(o)).toContain('their words');
  },
);

test('its node gone (PodGC marks it Failed): node lost, retryable', () => {
  const pod = withStatus({
    phase: 'Failed',
    conditions: [
      scheduled,
      {
        type: 'DisruptionTarget',
        status: 'True',
        reason: 'DeletionByPodGC',
        message: 'PodGC: node no longer exists',
      },
    ],
    containerStatuses: [
      { name: 'transfer', image: 'x', imageID: '', ready: false, restartCount: 0, state: { running: {} } },
    ],
  });
  expect(outcome(pod)).toEqual({
    state: 'failed',
    reason: PodFailure.NodeLost,
    message: `the transfer Pod ${NAME} was stopped: its node is gone: PodGC: node no longer exists`,
    retryable: true,
  });
});

test('deleted before it started, and gone altogether', () => {
  const pod = withStatus({ phase: 'Pending' }, { deletionTimestamp: new Date(T0) });
  expect(outcome(pod)).toMatchObject({ state: 'failed', reason: PodFailure.Deleted, retryable: true });
  expect(transferPodGone('prod', 'web-transfer-1')).toEqual({
    state: 'failed',
    reason: PodFailure.Deleted,
    message: 'the transfer Pod prod/web-transfer-1 was deleted before it reported a result',
    retryable: true,
  });
});

test("deadline exceeded (activeDeadlineSeconds): the kubelet's words, not retried", () => {
  const pod = ended(EXIT.terminated, cancelled, {
    reason: 'DeadlineExceeded',
    message: 'Pod was active on the node longer than the specified deadline',
  });
  pod.spec = { ...pod.spec!, activeDeadlineSeconds: 3600 };
  expect(outcome(pod)).toMatchObject({
    state: 'failed',
    reason: PodFailure.DeadlineExceeded,
    retryable: false,
    message: `the transfer Pod ${NAME} ran longer than its activeDeadlineSeconds (3600 s): Pod was active on the node longer than the specified deadline`,
  });
});

test('a container that could not be created: the kubelet reason and words', () => {
  const pod = withStatus({
    phase: 'Pending',
    conditions: [scheduled],
    containerStatuses: [
      {
        name: 'transfer',
        image: 'x',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "regcred" not found' } },
      },
    ],
  });
  expect(outcome(pod)).toMatchObject({ state: 'failed', reason: PodFailure.ContainerError, retryable: true });
  expect(messageOf(outcome(pod))).toContain('(CreateContainerConfigError): secret "regcred" not found');
});
