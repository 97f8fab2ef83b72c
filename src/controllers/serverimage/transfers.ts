// Disk transfers run beside the reconciler, not inside it: pushing a disk takes minutes
// to hours, and a reconcile must stay short so that it can notice a deleted VM or
// ServerImage and cancel. The manager caps how many run at once (operator-wide), tells
// the controller when one ends, and reports each pushed volume as soon as it is in the
// registry so a restarted operator does not push it again.
import type { ImageFormat } from '../../api/serverimage.js';
import { pushDiskImage, type PushedDiskImage } from '../../export/index.js';
import type { RegistryClient } from '../../registry/index.js';

export interface VolumeTransfer {
  volume: string;
  tag: string;
  url: string;
}

export interface TransferPlan {
  volumes: VolumeTransfer[];
  caPem: string;
  token: string;
  registry: () => Promise<RegistryClient>;
  imageName: string;
  metadata?: Record<string, string>;
  sourceVm: { namespace: string; name: string; uid: string };
  created: Date;
  /** spec.format: layer compression and disk format. */
  format: ImageFormat;
  /** An upload session a killed predecessor left open: cancelled before anything else. */
  staleUploadSession?: string;
}

export interface TransferEvents {
  /** A volume's image is pushed and verified; persist it before the next one starts. */
  onVolumePushed(key: string, volume: string, image: PushedDiskImage, seconds: number): Promise<void>;
  onProgress(key: string, bytesDone: number, bytesTotal: number): void;
  /** The open upload session's Location, to record for a successor; undefined once it is closed. */
  onUploadSession(key: string, location: string | undefined): Promise<void>;
  /** The transfer ended (succeeded, failed or cancelled), or a slot came free for a key that waited: reconcile it. */
  wake(key: string): void;
}

export interface TransferFailures {
  count: number;
  /** When the first and the latest of the failures in a row happened (epoch ms). */
  since: number;
  last: number;
  /** The latest failure, for the message shown while waiting to retry. */
  error: unknown;
}

export type TransferState =
  { state: 'running' } | { state: 'succeeded' } | { state: 'failed'; error: unknown };

interface Running {
  state: TransferState;
  abort: AbortController;
  done: Promise<void>;
}

export class TransferManager {
  private readonly transfers = new Map<string, Running>();
  /** Keys refused a slot, woken when one frees up (no polling). */
  private readonly waiting = new Set<string>();
  /** The most transfers that ran at once, for tests and metrics. */
  private peak = 0;
  /** Failed attempts in a row per key, for the caller's backoff. */
  private readonly failures = new Map<string, TransferFailures>();

  constructor(
    private readonly limit: number,
    private readonly events: TransferEvents,
    /** Least time between two progress reports of one transfer. */
    private readonly progressIntervalMs: number,
  ) {}

  state(key: string): TransferState | undefined {
    return this.transfers.get(key)?.state;
  }

  running(): number {
    return [...this.transfers.values()].filter((t) => t.state.state === 'running').length;
  }

  peakRunning(): number {
    return this.peak;
  }

  /** Starts the transfer unless the operator-wide limit is reached (then false). */
  tryStart(key: string, plan: TransferPlan): boolean {
    if (this.transfers.get(key)?.state.state === 'running') return true;
    if (this.running() >= this.limit) {
      this.waiting.add(key);
      return false;
    }
    this.waiting.delete(key);
    const abort = new AbortController();
    const entry: Running = { state: { state: 'running' }, abort, done: Promise.resolve() };
    entry.done = this.run(key, plan, abort.signal)
      .then(
        () => {
          entry.state = { state: 'succeeded' };
          this.failures.delete(key);
        },
        (error: unknown) => {
          entry.state = { state: 'failed', error };
          const previous = this.failures.get(key);
          const now = Date.now();
          this.failures.set(key, {
            count: (previous?.count ?? 0) + 1,
            since: previous?.since ?? now,
            last: now,
            error,
          });
        },
      )
      .finally(() => {
        this.events.wake(key);
        for (const waiter of this.waiting) this.events.wake(waiter);
      });
    this.transfers.set(key, entry);
    this.peak = Math.max(this.peak, this.running());
    return true;
  }

  /** Failed attempts in a row and since when (epoch ms); undefined after a success. */
  failuresOf(key: string): TransferFailures | undefined {
    return this.failures.get(key);
  }

  /** Forgets a finished transfer once the reconciler has acted on its outcome. */
  forget(key: string): void {
    if (this.transfers.get(key)?.state.state !== 'running') this.transfers.delete(key);
  }

  /** Stops a transfer (its upload session is cancelled) and waits until it has let go. */
  async cancel(key: string): Promise<void> {
    const entry = this.transfers.get(key);
    this.waiting.delete(key);
    if (entry) {
      entry.abort.abort(new Error('transfer cancelled'));
      await entry.done;
      this.transfers.delete(key);
    }
    this.failures.delete(key);
  }

  async cancelAll(): Promise<void> {
    await Promise.all([...this.transfers.keys()].map((key) => this.cancel(key)));
  }

  private async run(key: string, plan: TransferPlan, signal: AbortSignal): Promise<void> {
    const registry = await plan.registry();
    let finishedBytes = 0;
    try {
      if (plan.staleUploadSession) {
        await registry.cancelUploadSession(plan.staleUploadSession);
        await this.events.onUploadSession(key, undefined);
      }
      for (const volume of plan.volumes) {
        signal.throwIfAborted();
        const started = performance.now();
        const image = await pushDiskImage({
          source: { url: volume.url, caPem: plan.caPem, token: plan.token },
          registry,
          tag: volume.tag,
          imageName: plan.imageName,
          sourceVm: plan.sourceVm,
          volume: volume.volume,
          metadata: plan.metadata,
          created: plan.created,
          compression: plan.format.compression,
          diskFormat: plan.format.disk,
          signal,
          onUploadStarted: (location) => this.events.onUploadSession(key, location),
          progressIntervalMs: this.progressIntervalMs,
          onProgress: ({ bytesDone, bytesTotal }) =>
            this.events.onProgress(key, finishedBytes + bytesDone, finishedBytes + bytesTotal),
        });
        finishedBytes += image.size;
        // The session is closed: forget it before the image is recorded, since the last
        // image recorded moves the ServerImage to Active.
        await this.events.onUploadSession(key, undefined);
        await this.events.onVolumePushed(key, volume.volume, image, (performance.now() - started) / 1000);
      }
    } finally {
      await registry.close();
    }
  }
}
