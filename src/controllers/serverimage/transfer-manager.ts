// Disk transfers run beside the reconciler, not inside it: pushing a disk takes minutes
// to hours, and a reconcile must stay short so that it can notice a deleted VM or
// ServerImage and cancel. The manager hands out transfer slots (operator-wide), runs the
// transfers, tells the controller when one ends, and reports each pushed volume as soon
// as it is in the registry so a restarted operator does not push it again.
//
// A slot is taken before the image's VirtualMachineExport is made and given back once the
// export is deleted, so exports (exporter Pods, restored PVCs) never outnumber the slots:
// images waiting for a slot hold only their snapshot (an export made before its slot sat
// idle with its exporter Pod and restored PVCs: 142 of them for 4 slots were seen).
import type { ImageFormat } from '../../api/serverimage.js';
import { pushChunkedExport } from '../../export/chunked/index.js';
import { pushDiskImage, type PushedDiskImage, type UploadedLayer } from '../../export/index.js';
import type { Logger } from '../../kube/index.js';
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
  /** The VM's instancetype/preference hints for each image config, as kubevirt/containerdisks writes them. */
  configLabels?: Record<string, string>;
  created: Date;
  /** spec.format: layer compression, disk format and layout. */
  format: ImageFormat;
  /** Layout chunked: earlier backups in the repository (manifest digests) whose chunks are reused. */
  previousBackups?: string[];
  /** An upload session left open (a killed predecessor, a cancel that failed): cancelled first. */
  staleUploadSession?: string;
  /** Lines about this ServerImage's transfer (export resumes, registry retries). */
  log: Logger;
  /** The registry answered (an upload session opened, an image pushed): its shared backoff ends. */
  onRegistryAnswered?: () => void;
}

export interface TransferEvents {
  /** A volume's image is pushed and verified; persist it before the next one starts. */
  onVolumePushed(key: string, volume: string, image: PushedDiskImage, seconds: number): Promise<void>;
  onProgress(key: string, bytesDone: number, bytesTotal: number): void;
  /** The open upload session's Location, to record for a successor; undefined once it is closed for sure. */
  onUploadSession(key: string, location: string | undefined): Promise<void>;
  /** The transfer ended (succeeded, failed or cancelled), or a slot came free for a key that waited: reconcile it. */
  wake(key: string): void;
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
  /** Keys holding a slot: from before their export is made until it is deleted. */
  private readonly slots = new Set<string>();
  /** Keys refused a slot, woken when one frees up (no polling). */
  private readonly waiting = new Set<string>();
  /** The most slots held at once, for tests and metrics. */
  private peak = 0;
  /** Layers completed by a failed attempt, per key and volume: not sent twice. */
  private readonly layers = new Map<string, Map<string, UploadedLayer>>();

  constructor(
    private readonly limit: number,
    private readonly events: TransferEvents,
    /** Least time between two progress reports of one transfer. */
    private readonly progressIntervalMs: number,
    /** Told when the first slot is taken and when the last is given back (src/idle-collection.ts). */
    private readonly activity?: { busy(): void; idle(): void },
  ) {}

  state(key: string): TransferState | undefined {
    return this.transfers.get(key)?.state;
  }

  running(): number {
    return [...this.transfers.values()].filter((t) => t.state.state === 'running').length;
  }

  /** The most slots held at once. */
  peakRunning(): number {
    return this.peak;
  }

  holdsSlot(key: string): boolean {
    return this.slots.has(key);
  }

  /** Takes a slot for `key` (true), or queues it to be woken when one frees up (false). */
  reserve(key: string): boolean {
    if (this.slots.has(key)) return true;
    if (this.slots.size >= this.limit) {
      this.waiting.add(key);
      return false;
    }
    this.waiting.delete(key);
    this.slots.add(key);
    this.peak = Math.max(this.peak, this.slots.size);
    this.activity?.busy();
    return true;
  }

  /** Gives the slot back (the export is gone) and wakes the keys waiting for one. */
  release(key: string): void {
    this.waiting.delete(key);
    if (!this.slots.delete(key)) return;
    if (this.slots.size === 0) this.activity?.idle();
    for (const waiter of this.waiting) this.events.wake(waiter);
  }

  /** Starts the transfer in the key's slot (taking one if free); false when none is. */
  tryStart(key: string, plan: TransferPlan): boolean {
    if (this.transfers.get(key)?.state.state === 'running') return true;
    if (!this.reserve(key)) return false;
    const abort = new AbortController();
    const entry: Running = { state: { state: 'running' }, abort, done: Promise.resolve() };
    entry.done = this.run(key, plan, abort.signal)
      .then(
        () => {
          entry.state = { state: 'succeeded' };
          this.layers.delete(key);
        },
        (error: unknown) => {
          entry.state = { state: 'failed', error };
        },
      )
      .finally(() => this.events.wake(key));
    this.transfers.set(key, entry);
    return true;
  }

  /** Forgets a finished transfer once the reconciler has acted on its outcome. */
  forget(key: string): void {
    if (this.transfers.get(key)?.state.state !== 'running') this.transfers.delete(key);
  }

  /** Stops a transfer (its upload session is cancelled), waits until it has let go, frees its slot. */
  async cancel(key: string): Promise<void> {
    const entry = this.transfers.get(key);
    this.waiting.delete(key);
    if (entry) {
      entry.abort.abort(new Error('transfer cancelled'));
      await entry.done;
      this.transfers.delete(key);
    }
    this.layers.delete(key);
    this.release(key);
  }

  async cancelAll(): Promise<void> {
    await Promise.all([...this.transfers.keys()].map((key) => this.cancel(key)));
  }

  private async run(key: string, plan: TransferPlan, signal: AbortSignal): Promise<void> {
    const registry = await plan.registry();
    let finishedBytes = 0;
    try {
      if (plan.staleUploadSession) {
        // Strict: a session the registry has not confirmed gone stays recorded, and this
        // attempt fails (and is retried) rather than leaving it open for good.
        await registry.cancelUploadSession(plan.staleUploadSession);
        plan.log.info({ registry: registry.host }, 'stale upload session cancelled');
        await this.events.onUploadSession(key, undefined);
      }
      for (const volume of plan.volumes) {
        signal.throwIfAborted();
        const started = performance.now();
        const layers = this.layers.get(key) ?? new Map<string, UploadedLayer>();
        this.layers.set(key, layers);
        const known = layers.get(volume.volume);
        const source = {
          url: volume.url,
          caPem: plan.caPem,
          token: plan.token,
          onResume: ({ offset, attempt, error }: { offset: number; attempt: number; error: Error }) =>
            plan.log.warn(
              { volume: volume.volume, offset, attempt, error: error.message },
              'export stream dropped; resuming at offset',
            ),
        };
        const onProgress = ({ bytesDone, bytesTotal }: { bytesDone: number; bytesTotal: number }) =>
          this.events.onProgress(key, finishedBytes + bytesDone, finishedBytes + bytesTotal);
        // What both layouts push, and where: the image's identity and annotations.
        const target = {
          source,
          registry,
          tag: volume.tag,
          imageName: plan.imageName,
          sourceVm: plan.sourceVm,
          volume: volume.volume,
          metadata: plan.metadata,
          configLabels: plan.configLabels,
          created: plan.created,
        };
        if (plan.format.layout === 'chunked') {
          const image = await pushChunkedExport({
            ...target,
            previous: plan.previousBackups ?? [],
            signal,
            progressIntervalMs: this.progressIntervalMs,
            onProgress,
          });
          plan.onRegistryAnswered?.();
          plan.log.info({ volume: volume.volume, ...image.chunked }, 'chunked backup pushed');
          finishedBytes += image.size;
          await this.events.onVolumePushed(key, volume.volume, image, (performance.now() - started) / 1000);
          continue;
        }
        const image = await pushDiskImage({
          ...target,
          compression: plan.format.compression,
          diskFormat: plan.format.disk,
          signal,
          uploadedLayer: known,
          onLayerUploaded: (layer) => layers.set(volume.volume, layer),
          onUploadStarted: (location) => {
            plan.onRegistryAnswered?.();
            return this.events.onUploadSession(key, location);
          },
          // The session is closed: forget it before the image is recorded, since the last
          // image recorded moves the ServerImage to Active.
          onUploadClosed: () => this.events.onUploadSession(key, undefined),
          progressIntervalMs: this.progressIntervalMs,
          onProgress,
        });
        if (known && layers.get(volume.volume) === known) {
          plan.log.info(
            { volume: volume.volume, layer: known.digest },
            'layer already in the registry from an earlier attempt; not sent again',
          );
        }
        plan.onRegistryAnswered?.();
        finishedBytes += image.size;
        await this.events.onVolumePushed(key, volume.volume, image, (performance.now() - started) / 1000);
      }
    } finally {
      await registry.close();
    }
  }
}
