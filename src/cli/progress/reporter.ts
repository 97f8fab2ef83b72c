// Shows a followed ServerImage: on a terminal one bar line redrawn in place (when the
// phase or the step's reason changes, the finished line stays above it, so the steps
// read as a history), elsewhere one plain line per change.
import type { OutputStream } from '../io.js';
import type { StoredServerImage } from '../server-image-client.js';
import { RateEstimator } from './rate.js';
import { renderBarLine, renderPlainLine, type Measures } from './render.js';
import { progressView, sameView, type ProgressView } from './view.js';

export interface ProgressReporter {
  update(image: StoredServerImage): void;
  /** Ends the display (the cursor on a fresh line). */
  stop(): void;
}

type Clock = () => number;

abstract class BaseReporter implements ProgressReporter {
  protected view: ProgressView | undefined;
  private readonly rate = new RateEstimator();
  private readonly startedAt: number;
  private measuredTotal: number | undefined;

  constructor(
    protected readonly out: OutputStream,
    protected readonly clock: Clock,
  ) {
    this.startedAt = clock();
  }

  update(image: StoredServerImage): void {
    const view = progressView(image);
    // The operator's total grows by a volume when it starts the next one, after a pause
    // (the next export's setup) that says nothing about the transfer rate: measure anew.
    if (view.bytesTotal !== this.measuredTotal) this.rate.reset();
    this.measuredTotal = view.bytesTotal;
    if (view.bytesDone !== undefined) this.rate.add(this.clock(), view.bytesDone);
    this.show(view);
  }

  protected measures(view: ProgressView): Measures {
    const bytesPerSecond = this.rate.bytesPerSecond();
    const etaSeconds = view.bytesTotal !== undefined ? this.rate.etaSeconds(view.bytesTotal) : undefined;
    return {
      elapsedMs: this.clock() - this.startedAt,
      ...(bytesPerSecond !== undefined ? { bytesPerSecond } : {}),
      ...(etaSeconds !== undefined ? { etaSeconds } : {}),
    };
  }

  protected abstract show(view: ProgressView): void;
  abstract stop(): void;
}

export class PlainReporter extends BaseReporter {
  protected show(view: ProgressView): void {
    if (sameView(this.view, view)) return;
    const sameStep =
      this.view?.phase === view.phase &&
      this.view.reason === view.reason &&
      this.view.message === view.message;
    this.view = view;
    this.out.write(`${renderPlainLine(view, this.measures(view), !sameStep)}\n`);
  }

  stop(): void {}
}

const CLEAR_LINE = '\r\x1b[2K';

export class TtyReporter extends BaseReporter {
  private readonly ticker: NodeJS.Timeout;
  private drawn = false;

  constructor(
    out: OutputStream,
    clock: Clock,
    private readonly columns: () => number,
    tickMs = 1000,
  ) {
    super(out, clock);
    // Redraw between status updates so the elapsed time and a stalled transfer show.
    this.ticker = setInterval(() => this.view && this.draw(this.view), tickMs);
    this.ticker.unref();
  }

  protected show(view: ProgressView): void {
    const newStep = this.view && (this.view.phase !== view.phase || this.view.reason !== view.reason);
    if (this.drawn && newStep) this.out.write('\n');
    this.view = view;
    this.draw(view);
  }

  private draw(view: ProgressView): void {
    this.out.write(`${CLEAR_LINE}${renderBarLine(view, this.measures(view), this.columns())}`);
    this.drawn = true;
  }

  stop(): void {
    clearInterval(this.ticker);
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

export function progressReporter(
  out: OutputStream,
  columns: () => number,
  clock: Clock = Date.now,
): ProgressReporter {
  return out.isTTY ? new TtyReporter(out, clock, columns) : new PlainReporter(out, clock);
}
