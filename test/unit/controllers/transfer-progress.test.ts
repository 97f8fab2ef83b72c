// The progress poller reads a running transfer Pod's GET /progress (a fake fetch here, the
// Pod's own document format) on a clock, and writes only what changed: the byte progress
// over all volumes, and the upload session (a change only, undefined once it is closed).
import { ProgressPoller, progressTotals } from '../../../src/controllers/serverimage/transfer-progress.js';
import type { Clock } from '../../../src/kube/index.js';
import { silentLogger } from '../../../src/kube/index.js';
import type { TransferProgress } from '../../../src/transfer/progress.js';

function manualClock() {
  const timers: Array<{ fn: () => void; cancelled: boolean }> = [];
  const clock: Clock = {
    now: () => 0,
    setTimer(fn) {
      const t = { fn, cancelled: false };
      timers.push(t);
      return { cancel: () => (t.cancelled = true) };
    },
  };
  const tick = async () => {
    const due = timers.splice(0).filter((t) => !t.cancelled);
    for (const t of due) t.fn();
    await new Promise((r) => setImmediate(r));
  };
  return { clock, tick, pending: () => timers.filter((t) => !t.cancelled).length };
}

const doc = (done: number[], session?: string): TransferProgress => ({
  version: 1,
  state: 'running',
  volumes: done.map((d, i) => ({ volume: `v${i}`, bytesDone: d, bytesTotal: 100 })),
  ...(session ? { uploadSession: session } : {}),
  startedAt: '2026-12-05T20:00:00Z',
  updatedAt: '2026-12-05T20:00:01Z',
});

test('totals add up the volumes', () => {
  expect(progressTotals(doc([100, 40]))).toEqual({ bytesDone: 140, bytesTotal: 200 });
});

test('follows a Pod: progress and session written on change only, nothing after stop', async () => {
  const { clock, tick, pending } = manualClock();
  const answers = [doc([10], 'http://r/u/1'), doc([10], 'http://r/u/1'), doc([100])];
  const urls: string[] = [];
  const progress: Array<[number, number]> = [];
  const sessions: Array<string | undefined> = [];
  const poller = new ProgressPoller(
    {
      writeProgress: (_key, done, total) => progress.push([done, total]),
      recordUploadSession: async (_key, location) => void sessions.push(location),
    },
    1000,
    clock,
    silentLogger,
    async (url) => {
      urls.push(url);
      const next = answers.shift();
      if (!next) throw new Error('connection refused');
      return JSON.stringify(next);
    },
  );
  poller.follow('ns/a', '10.1.1.7', undefined);
  await tick();
  poller.follow('ns/a', '10.1.1.7', undefined); // the same Pod: not a second poller
  await tick();
  await tick();
  await tick(); // a failed poll is skipped; the poller goes on
  expect(urls.slice(0, 3)).toEqual(Array(3).fill('http://10.1.1.7:8090/progress'));
  expect(progress).toEqual([
    [10, 100],
    [100, 100],
  ]);
  expect(sessions).toEqual(['http://r/u/1', undefined]);
  poller.stop('ns/a');
  expect(pending()).toBe(0);
  expect(poller.keys()).toEqual([]);
});
