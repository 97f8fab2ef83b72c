// Progress of a long copy, told to a callback at most every `intervalMs`: the
// reconciler writes it into the object's status, and the API server should not
// see a write per chunk.

export interface Progress {
  bytesDone: number;
  bytesTotal: number;
}

export type ProgressCallback = (progress: Progress) => void;

export interface ProgressReporter {
  /** Records progress; calls back only if `intervalMs` passed since the last call. */
  update(bytesDone: number): void;
  /** Calls back with the latest progress if it was not reported yet (e.g. at the end). */
  flush(): void;
}

export function throttledProgress(
  bytesTotal: number,
  callback: ProgressCallback | undefined,
  intervalMs = 250,
  now: () => number = Date.now,
): ProgressReporter {
  let last = -Infinity;
  let latest = 0;
  let reported = -1;
  const report = () => {
    last = now();
    reported = latest;
    callback?.({ bytesDone: latest, bytesTotal });
  };
  return {
    update(bytesDone) {
      latest = bytesDone;
      if (now() - last >= intervalMs) report();
    },
    flush() {
      if (reported !== latest) report();
    },
  };
}
