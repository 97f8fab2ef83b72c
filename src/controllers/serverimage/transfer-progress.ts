// While a transfer Pod runs, the operator reads its progress (GET /progress on the Pod's IP,
// src/transfer/progress.ts) every --progress-interval and writes what changed on the
// ServerImage: status.progress over all volumes, and the open upload session's Location
// (an annotation, so that a successor cancels it if the Pod dies without saying). Beside the
// reconcile, not in it: a reconcile stays short, and the Pod's phase changes (the informer)
// are what wake it. A poll that fails is skipped: the Pod may be starting or ending, and
// its result does not depend on this (it is the termination message).
import { PROGRESS_PATH, PROGRESS_PORT } from '../../transfer/request.js';
import { decodeProgress, type TransferProgress } from '../../transfer/progress.js';
import type { Clock, Logger, Timer } from '../../kube/index.js';
import { describeClientError } from '../../kube/client-error.js';

export interface ProgressSink {
  writeProgress(key: string, bytesDone: number, bytesTotal: number): void;
  recordUploadSession(key: string, location: string | undefined): Promise<void>;
}

/** How the progress document is fetched (the global fetch in the operator). */
export type ProgressFetch = (url: string, signal: AbortSignal) => Promise<string>;

interface Followed {
  url: string;
  timer?: Timer;
  bytes?: string;
  session: string | undefined;
  stopped: boolean;
}

const POLL_TIMEOUT_MS = 5000;

export const fetchProgress: ProgressFetch = async (url, signal) => {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
  return res.text();
};

/** Sums the volumes: what status.progress says (bytes of the volumes of this attempt). */
export function progressTotals(progress: TransferProgress): { bytesDone: number; bytesTotal: number } {
  let bytesDone = 0;
  let bytesTotal = 0;
  for (const volume of progress.volumes) {
    bytesDone += volume.bytesDone;
    bytesTotal += volume.bytesTotal;
  }
  return { bytesDone, bytesTotal };
}

export class ProgressPoller {
  private readonly followed = new Map<string, Followed>();

  constructor(
    private readonly sink: ProgressSink,
    private readonly intervalMs: number,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly get: ProgressFetch = fetchProgress,
  ) {}

  /** The keys followed now. */
  keys(): string[] {
    return [...this.followed.keys()];
  }

  /**
   * Polls the Pod at `podIP` for `key` (again if it is another Pod); `session` is the
   * upload session recorded on the ServerImage now, so only a change is written.
   */
  follow(key: string, podIP: string, session: string | undefined): void {
    const host = podIP.includes(':') ? `[${podIP}]` : podIP;
    const url = `http://${host}:${PROGRESS_PORT}${PROGRESS_PATH}`;
    if (this.followed.get(key)?.url === url) return;
    this.stop(key);
    const entry: Followed = { url, session, stopped: false };
    this.followed.set(key, entry);
    void this.poll(key, entry);
  }

  stop(key: string): void {
    const entry = this.followed.get(key);
    if (!entry) return;
    entry.stopped = true;
    entry.timer?.cancel();
    this.followed.delete(key);
  }

  stopAll(): void {
    for (const key of [...this.followed.keys()]) this.stop(key);
  }

  private async poll(key: string, entry: Followed): Promise<void> {
    try {
      const text = await this.get(entry.url, AbortSignal.timeout(POLL_TIMEOUT_MS));
      const progress = decodeProgress(text);
      if (progress && !entry.stopped) await this.record(key, entry, progress);
    } catch (err) {
      this.log.debug(
        { serverimage: key, url: entry.url, error: describeClientError(err) },
        'progress not read',
      );
    }
    if (!entry.stopped) entry.timer = this.clock.setTimer(() => void this.poll(key, entry), this.intervalMs);
  }

  private async record(key: string, entry: Followed, progress: TransferProgress): Promise<void> {
    const totals = progressTotals(progress);
    const bytes = `${totals.bytesDone}/${totals.bytesTotal}`;
    if (bytes !== entry.bytes) {
      entry.bytes = bytes;
      this.sink.writeProgress(key, totals.bytesDone, totals.bytesTotal);
    }
    if (progress.uploadSession !== entry.session) {
      await this.sink.recordUploadSession(key, progress.uploadSession);
      entry.session = progress.uploadSession;
    }
  }
}
