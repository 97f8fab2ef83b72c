import { WorkQueue } from '../../../src/kube/work-queue.js';
import { ItemExponentialRateLimiter } from '../../../src/kube/rate-limiter.js';
import { FakeClock, flush } from './fake-clock.js';

const newQueue = () => {
  const clock = new FakeClock();
  return { clock, queue: new WorkQueue({ clock }) };
};

describe('WorkQueue', () => {
  test('adds of one key coalesce into one hand-out', async () => {
    const { queue } = newQueue();
    queue.add('ns/a');
    queue.add('ns/a');
    queue.add('ns/b');
    queue.add('ns/a');
    expect(queue.len()).toBe(2);
    expect(await queue.get()).toBe('ns/a');
    expect(await queue.get()).toBe('ns/b');
    expect(queue.len()).toBe(0);
  });

  test('a key in work is not handed out again until done, then once more', async () => {
    const { queue } = newQueue();
    queue.add('ns/a');
    expect(await queue.get()).toBe('ns/a');
    queue.add('ns/a');
    queue.add('ns/a');
    expect(queue.len()).toBe(0);
    let second: string | undefined;
    void queue.get().then((k) => (second = k));
    await flush();
    expect(second).toBeUndefined();
    queue.done('ns/a');
    await flush();
    expect(second).toBe('ns/a');
    queue.done('ns/a');
    expect(queue.len()).toBe(0);
    expect(queue.inFlight()).toBe(0);
  });

  test('done without a re-add does not queue the key again', async () => {
    const { queue } = newQueue();
    queue.add('ns/a');
    await queue.get();
    queue.done('ns/a');
    expect(queue.len()).toBe(0);
  });

  test('a waiting get() is woken by add', async () => {
    const { queue } = newQueue();
    const next = queue.get();
    queue.add('ns/x');
    expect(await next).toBe('ns/x');
  });

  test('addAfter waits on the clock, and the earliest time wins', async () => {
    const { clock, queue } = newQueue();
    queue.addAfter('ns/a', 1000);
    queue.addAfter('ns/a', 5000);
    queue.addAfter('ns/a', 300);
    expect(queue.len()).toBe(0);
    expect(queue.delayed()).toBe(1);
    clock.advance(299);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(queue.delayed()).toBe(0);
    clock.advance(10_000);
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe('ns/a');
  });

  test('addAfter of zero adds at once', () => {
    const { queue } = newQueue();
    queue.addAfter('ns/a', 0);
    expect(queue.len()).toBe(1);
  });

  test('rate-limited adds back off exponentially per key, forget resets', () => {
    const { clock, queue } = newQueue();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      queue.addRateLimited('ns/a');
      delays.push(clock.pendingDelays()[0]!);
      clock.advance(delays[i]!);
    }
    expect(delays).toEqual([5, 10, 20, 40, 80]);
    expect(queue.numRequeues('ns/a')).toBe(5);
    // Another key has its own backoff.
    queue.addRateLimited('ns/b');
    expect(clock.pendingDelays()).toEqual([5]);
    clock.advance(5);
    queue.forget('ns/a');
    expect(queue.numRequeues('ns/a')).toBe(0);
    queue.addRateLimited('ns/a');
    expect(clock.pendingDelays()).toEqual([5]);
  });

  test('the backoff is capped at 1000 s', () => {
    const limiter = new ItemExponentialRateLimiter();
    const delays = Array.from({ length: 40 }, () => limiter.when('k'));
    expect(delays[17]).toBe(5 * 2 ** 17);
    expect(delays[18]).toBe(1_000_000);
    expect(delays[39]).toBe(1_000_000);
    expect(Math.max(...delays)).toBe(1_000_000);
  });

  test('shutDown stops hand-outs at once; drain waits for work in flight', async () => {
    const { clock, queue } = newQueue();
    queue.add('ns/a');
    queue.add('ns/b');
    queue.addAfter('ns/c', 100);
    expect(await queue.get()).toBe('ns/a');
    const waiting = queue.get();
    expect(await waiting).toBe('ns/b');
    const idle = queue.get();
    let drained = false;
    const drain = queue.drain().then(() => (drained = true));
    expect(await idle).toBeUndefined();
    expect(await queue.get()).toBeUndefined();
    queue.add('ns/d');
    clock.advance(1000);
    expect(queue.len()).toBe(0);
    await flush();
    expect(drained).toBe(false);
    queue.done('ns/a');
    await flush();
    expect(drained).toBe(false);
    queue.done('ns/b');
    await drain;
    expect(drained).toBe(true);
  });

  test('drain of an idle queue resolves at once', async () => {
    const { queue } = newQueue();
    await expect(queue.drain()).resolves.toBeUndefined();
  });

  test('reports metrics: depth, adds, retries, queue and work duration', async () => {
    const clock = new FakeClock();
    const seen = { depth: [] as number[], adds: 0, retries: 0, queue: [] as number[], work: [] as number[] };
    const queue = new WorkQueue({
      clock,
      metrics: {
        depth: (n) => seen.depth.push(n),
        added: () => seen.adds++,
        retried: () => seen.retries++,
        queueDuration: (s) => seen.queue.push(s),
        workDuration: (s) => seen.work.push(s),
      },
    });
    queue.add('ns/a');
    queue.add('ns/a');
    queue.add('ns/b');
    clock.advance(2000);
    await queue.get();
    clock.advance(500);
    queue.done('ns/a');
    queue.addRateLimited('ns/a');
    expect(seen.adds).toBe(2);
    expect(seen.retries).toBe(1);
    expect(seen.depth).toEqual([1, 2, 1]);
    expect(seen.queue).toEqual([2]);
    expect(seen.work).toEqual([0.5]);
  });
});
