// Transfer rate and ETA from the operator's progress reports. The operator writes
// status.progress every few hundred ms (throttled), so the rate is the slope over a
// sliding window of recent samples: steady enough to read, quick to follow a change.

export interface RateSample {
  /** ms since epoch when the sample was seen. */
  at: number;
  bytes: number;
}

export class RateEstimator {
  private samples: RateSample[] = [];

  constructor(private readonly windowMs = 10_000) {}

  /** Records bytesDone at time `at`; a counter that goes back (a restarted upload) starts over. */
  add(at: number, bytes: number): void {
    const last = this.samples.at(-1);
    if (last && bytes < last.bytes) this.samples = [];
    if (last && at <= last.at && bytes === last.bytes) return;
    this.samples.push({ at, bytes });
    const first = this.samples.findIndex((s) => s.at >= at - this.windowMs);
    // Keep one sample older than the window so the slope spans the whole window.
    if (first > 1) this.samples = this.samples.slice(first - 1);
  }

  /** Forgets every sample: the next rate is measured from scratch. */
  reset(): void {
    this.samples = [];
  }

  /** Bytes per second over the window, or undefined until two samples span some time. */
  bytesPerSecond(): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at <= first.at) return undefined;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }

  /** Seconds until `total`, or undefined while the rate is unknown or zero. */
  etaSeconds(total: number): number | undefined {
    const rate = this.bytesPerSecond();
    const last = this.samples.at(-1);
    if (!rate || rate <= 0 || !last) return undefined;
    return Math.max(0, total - last.bytes) / rate;
  }
}
