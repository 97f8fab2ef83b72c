import { Controller, type ReconcileResult } from '../../../src/kube/controller.js';
import type { ReconcileResultLabel } from '../../../src/kube/metrics.js';
import { FakeClock, flush } from './fake-clock.js';

/** A reconcile whose calls the test finishes by hand. */
class ManualReconciler {
  calls: { key: string; finish: (r?: ReconcileResult | Error) => void }[] = [];
  running = new Map<string, number>();
  maxConcurrentSameKey = 0;

  reconcile = (key: string): Promise<ReconcileResult | void> => {
    const now = (this.running.get(key) ?? 0) + 1;
    this.running.set(key, now);
    this.maxConcurrentSameKey = Math.max(this.maxConcurrentSameKey, now);
    return new Promise((resolve, reject) => {
      this.calls.push({
        key,
        finish: (r) => {
          this.running.set(key, (this.running.get(key) ?? 1) - 1);
          if (r instanceof Error) reject(r);
          else resolve(r);
        },
      });
    });
  };

  keys(): string[] {
    return this.calls.map((c) => c.key);
  }
}

function setup(workers = 2) {
  const clock = new FakeClock();
  const r = new ManualReconciler();
  const results: ReconcileResultLabel[] = [];
  const counters = { errors: 0 };
  const controller = new Controller({
    name: 'test',
    reconcile: r.reconcile,
    workers,
    clock,
    metrics: {
      reconciled: (result) => results.push(result),
      errored: () => counters.errors++,
      activeWorkers: () => {},
    },
  });
  controller.start();
  return { clock, r, controller, results, counters };
}

describe('Controller', () => {
  test('never reconciles one key on two workers; a re-add during work runs once more after', async () => {
    const { r, controller } = setup(4);
    controller.enqueue('ns/a');
    await flush();
    controller.enqueue('ns/a');
    controller.enqueue('ns/a');
    controller.enqueue('ns/b');
    await flush();
    expect(r.keys()).toEqual(['ns/a', 'ns/b']);
    r.calls[0]!.finish();
    await flush();
    expect(r.keys()).toEqual(['ns/a', 'ns/b', 'ns/a']);
    r.calls[1]!.finish();
    r.calls[2]!.finish();
    await flush();
    expect(r.keys()).toHaveLength(3);
    expect(r.maxConcurrentSameKey).toBe(1);
    await controller.stop();
  });

  test('runs different keys in parallel up to the worker count', async () => {
    const { r, controller } = setup(2);
    for (const k of ['ns/a', 'ns/b', 'ns/c']) controller.enqueue(k);
    await flush();
    expect(r.keys()).toEqual(['ns/a', 'ns/b']);
    r.calls[1]!.finish();
    await flush();
    expect(r.keys()).toEqual(['ns/a', 'ns/b', 'ns/c']);
    r.calls[0]!.finish();
    r.calls[2]!.finish();
    await controller.stop();
  });

  test('a thrown error retries with growing backoff; success forgets it', async () => {
    const { clock, r, controller, results, counters } = setup(1);
    controller.enqueue('ns/a');
    await flush();
    const retryDelays: number[] = [];
    for (let i = 0; i < 4; i++) {
      r.calls[i]!.finish(new Error('boom'));
      await flush();
      retryDelays.push(clock.pendingDelays()[0]!);
      clock.advance(retryDelays[i]!);
      await flush();
    }
    expect(retryDelays).toEqual([5, 10, 20, 40]);
    expect(counters.errors).toBe(4);
    r.calls[4]!.finish();
    await flush();
    expect(controller.queue.numRequeues('ns/a')).toBe(0);
    expect(clock.pendingDelays()).toEqual([]);
    expect(results).toEqual(['error', 'error', 'error', 'error', 'success']);
    await controller.stop();
  });

  test('requeueAfter reconciles again after that time, not before', async () => {
    const { clock, r, controller, results } = setup(1);
    controller.enqueue('ns/a');
    await flush();
    r.calls[0]!.finish({ requeueAfter: 30_000 });
    await flush();
    clock.advance(29_999);
    await flush();
    expect(r.keys()).toHaveLength(1);
    clock.advance(1);
    await flush();
    expect(r.keys()).toHaveLength(2);
    expect(results).toEqual(['requeue_after']);
    r.calls[1]!.finish();
    await controller.stop();
  });

  test('an event during a requeueAfter wait reconciles at once', async () => {
    const { r, controller } = setup(1);
    controller.enqueue('ns/a');
    await flush();
    r.calls[0]!.finish({ requeueAfter: 30_000 });
    await flush();
    controller.enqueue('ns/a');
    await flush();
    expect(r.keys()).toHaveLength(2);
    r.calls[1]!.finish();
    await controller.stop();
  });

  test('stop lets work in flight finish and takes no more', async () => {
    const { r, controller } = setup(1);
    controller.enqueue('ns/a');
    controller.enqueue('ns/b');
    await flush();
    let stopped = false;
    const stopping = controller.stop().then(() => (stopped = true));
    await flush();
    expect(stopped).toBe(false);
    r.calls[0]!.finish();
    await stopping;
    expect(r.keys()).toEqual(['ns/a']);
  });
});
