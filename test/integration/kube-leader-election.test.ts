// Two electors on a real Lease (short durations: lease 3 s, renew deadline 2 s, retry
// 0.5 s): one leads at a time, a stopped leader hands over at once by releasing, and a
// leader that cannot renew or sees another holder stops its work before anyone else
// starts.
import * as k8s from '@kubernetes/client-node';
import { LeaderElector } from '../../src/kube/leader-election.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import { type TcpProxy, eventually, startTcpProxy } from './kube-fixtures.js';

const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
let namespace: string;
beforeAll(async () => {
  namespace = await createNamespace('kube-leader');
});

interface Candidate {
  elector: LeaderElector;
  stop: AbortController;
  done: Promise<void>;
  signal?: AbortSignal;
  stopped: boolean;
}

function candidate(
  identity: string,
  lease: string,
  log: string[],
  kc: k8s.KubeConfig = kubeConfig(),
): Candidate {
  const stop = new AbortController();
  const c: Partial<Candidate> = { stop, stopped: false };
  c.elector = new LeaderElector({
    kubeConfig: kc,
    namespace,
    name: lease,
    identity,
    ...timings,
    onStartedLeading: (signal) => {
      log.push(`${identity} started`);
      c.signal = signal;
      signal.addEventListener('abort', () => log.push(`${identity} aborted`));
    },
    onStoppedLeading: () => {
      log.push(`${identity} stopped`);
      c.stopped = true;
    },
  });
  c.done = c.elector.run(stop.signal);
  return c as Candidate;
}

const readLease = (name: string) =>
  kubeConfig().makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name, namespace });

test('one leader at a time; stopping the leader hands over through release', async () => {
  const log: string[] = [];
  const a = candidate('a', 'handover', log);
  await eventually('a leads', () => a.elector.isLeader());
  const b = candidate('b', 'handover', log);
  // b keeps trying for several retry periods without winning.
  await eventually('b saw a as leader', () => b.elector.leader() === 'a');
  await new Promise((r) => setTimeout(r, 2000));
  expect(b.elector.isLeader()).toBe(false);
  expect((await readLease('handover')).spec?.holderIdentity).toBe('a');

  a.stop.abort();
  await a.done;
  expect(a.signal?.aborted).toBe(true);
  await eventually('b leads', () => b.elector.isLeader(), 10_000);
  const lease = await readLease('handover');
  expect(lease.spec?.holderIdentity).toBe('b');
  expect(lease.spec?.leaseTransitions).toBe(1);
  expect(log).toEqual(['a started', 'a aborted', 'a stopped', 'b started']);
  b.stop.abort();
  await b.done;
  expect((await readLease('handover')).spec?.holderIdentity).toBe('');
});

describe('losing the lease', () => {
  let proxy: TcpProxy;
  beforeEach(async () => {
    proxy = await startTcpProxy();
  });
  afterEach(async () => {
    await proxy.stop();
  });

  test('a leader that cannot renew aborts its work before the standby takes over', async () => {
    const log: string[] = [];
    const a = candidate('a', 'partition', log, proxy.kubeConfig);
    await eventually('a leads', () => a.elector.isLeader());
    const b = candidate('b', 'partition', log);
    await eventually('b saw a', () => b.elector.leader() === 'a');
    // a is cut off from the API server; it keeps running but cannot renew.
    proxy.refuse();
    proxy.cut();
    await a.done;
    expect(a.signal?.aborted).toBe(true);
    expect(a.stopped).toBe(true);
    await eventually('b leads after the lease expires', () => b.elector.isLeader(), 15_000);
    expect(log).toEqual(['a started', 'a aborted', 'a stopped', 'b started']);
    b.stop.abort();
    await b.done;
  });
});

test('a leader that finds another holder on the Lease stops at once', async () => {
  const log: string[] = [];
  const a = candidate('a', 'intruded', log);
  await eventually('a leads', () => a.elector.isLeader());
  const api = kubeConfig().makeApiClient(k8s.CoordinationV1Api);
  const lease = await api.readNamespacedLease({ name: 'intruded', namespace });
  await api.replaceNamespacedLease({
    name: 'intruded',
    namespace,
    body: {
      ...lease,
      spec: { ...lease.spec, holderIdentity: 'intruder', renewTime: new k8s.V1MicroTime(Date.now()) },
    },
  });
  await a.done;
  expect(a.signal?.aborted).toBe(true);
  expect(log).toEqual(['a started', 'a aborted', 'a stopped']);
  // It was not our lease any more, so it is not released on the way out.
  expect((await readLease('intruded')).spec?.holderIdentity).toBe('intruder');
});

test('rejects timings that break the rules', () => {
  const base = { kubeConfig: kubeConfig(), namespace, name: 'x', identity: 'a', onStartedLeading: () => {} };
  expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(
    /leaseDuration/,
  );
  expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow(
    /retryPeriod/,
  );
});
