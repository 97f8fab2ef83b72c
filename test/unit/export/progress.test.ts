import { throttledProgress, type Progress } from '../../../src/export/progress.js';

describe('throttledProgress', () => {
  it('reports at most once per interval, and the last value on flush', () => {
    let now = 1000;
    const seen: Progress[] = [];
    const progress = throttledProgress(
      100,
      (p) => seen.push(p),
      250,
      () => now,
    );

    progress.update(1); // first update is reported at once
    for (let done = 2; done <= 50; done++) {
      now += 10; // 49 updates over 490 ms
      progress.update(done);
    }
    progress.flush();
    progress.flush(); // nothing new: no second report

    expect(seen).toEqual([
      { bytesDone: 1, bytesTotal: 100 },
      { bytesDone: 26, bytesTotal: 100 },
      { bytesDone: 50, bytesTotal: 100 },
    ]);
  });

  it('works without a callback', () => {
    const progress = throttledProgress(10, undefined);
    progress.update(5);
    progress.flush();
  });
});
