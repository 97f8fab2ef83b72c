// A small pool of worker threads (compression-worker.ts) that encode blocks (block-encoder.ts): zlib's
// synchronous calls in a worker keep a core busy with no round trip to the main
// thread per output piece, and the main thread stays free for TLS, hashing and
// HTTP. Blocks travel as transferred ArrayBuffers (input and output move to the
// worker and back, never copied).
//
// It starts with one worker per core but one, and grows to one per core while
// compression holds the stream up and the workers get their CPU (see
// GROW_AT_BUSY): data that needs zlib's match search (most file systems) keeps
// a worker on a core of its own, and another one made a full push 1.3x faster; on
// zeros, stored and Huffman-only runs the main thread (TLS, hashing) needs its
// core too, and another worker would mostly cost memory.
//
// One pool is shared by all pushes of the process (the operator runs several at
// once): jobs queue in order of arrival. acquireCompressionPool() counts users;
// when the last one releases it, the workers are terminated, so nothing is left
// running after a push ends or fails.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { EncodeOptions } from './block-encoder.js';
import type { WorkerJob, WorkerReply } from './compression-worker.js';

export interface EncodeJob {
  /** The block; transferred to the worker (detached here until the job settles). */
  input: ArrayBuffer;
  /** Bytes of `input` to encode. */
  length: number;
  /** Where the encoding goes; at least outputBound(length) bytes; transferred too. */
  output: ArrayBuffer;
  options: EncodeOptions;
}

export interface EncodeResult {
  /** The same buffers, handed back. */
  input: ArrayBuffer;
  output: ArrayBuffer;
  /** Bytes of `output` written. */
  length: number;
}

/**
 * The worker's file: compression-worker.js next to this one in dist/; the .ts file
 * where this module runs from src (tsx, jest), which Node runs with its types
 * stripped.
 */
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './compression-worker.ts' : './compression-worker.js',
  import.meta.url,
);

interface Pending {
  job: EncodeJob;
  resolve: (result: EncodeResult) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  current?: Pending;
  /** When the current job was posted to the worker (performance.now()). */
  postedAt?: number;
}

export interface CompressionPoolOptions {
  /** Worker threads to start with. Default: one per core but one. */
  size?: number;
  /** Most worker threads. Default: one per core; never fewer than size. */
  maxSize?: number;
  /** How long each window is in which the workers' busy and CPU shares are measured. Default 1 s. */
  growWindowMs?: number;
}

/**
 * The pool adds a worker when, over the last window, its workers had a job in
 * hand GROW_AT_BUSY of the time, so compression is what the stream waits for,
 * and got GROW_AT_CPU of a core or more while on it, so the machine has CPU to
 * spare for one more. A real file system's bytes pass both (zlib's match search
 * keeps a worker on its core); zeros, stored and Huffman-only runs leave part of
 * the core to the main thread and do not. What was measured to pick these is in
 * docs/how-it-works.md ("How the compression pool grows").
 */
const GROW_AT_BUSY = 0.9;
const GROW_AT_CPU = 0.85;
/** Windows in a row that must show both: the benchmark's disk reaches 0.81 of a core in a single window now and then. */
const GROW_AFTER_WINDOWS = 3;

export class CompressionPool {
  readonly maxSize: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private readonly growWindowMs: number;
  /** Since windowStart: the time workers had a job (posted to answered), and the CPU time they got over cpuOverBusyMs of their own time on jobs (ms). */
  private busyMs = 0;
  private cpuMs = 0;
  private cpuOverBusyMs = 0;
  /** Windows in a row in which compression held the stream up with CPU to spare. */
  private starvedWindows = 0;
  private windowStart = performance.now();
  private closed = false;

  constructor(options: CompressionPoolOptions = {}) {
    const size = options.size ?? defaultPoolSize();
    this.maxSize = Math.max(size, options.maxSize ?? defaultMaxPoolSize());
    this.growWindowMs = options.growWindowMs ?? 1000;
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  /** Worker threads now. */
  get size(): number {
    return this.slots.length;
  }

  encode(job: EncodeJob): Promise<EncodeResult> {
    if (this.closed) return Promise.reject(new Error('compression pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Terminates the workers; queued jobs fail. A block being encoded is finished first:
   * terminating a worker inside a zlib call aborts the whole process (Node asserts
   * "close before init" in node_zlib.cc while tearing the worker down; seen in CI).
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('compression pool closed'));
    await Promise.all(
      this.slots.map(async (slot) => {
        await this.idle(slot);
        await slot.worker.terminate();
      }),
    );
  }

  /** Resolves once the slot's current job, if any, has settled. */
  private idle(slot: Slot): Promise<void> {
    const current = slot.current;
    if (!current) return Promise.resolve();
    return new Promise((settled) => {
      slot.current = {
        job: current.job,
        resolve: (result) => {
          current.resolve(result);
          settled();
        },
        reject: (error) => {
          current.reject(error);
          settled();
        },
      };
    });
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_URL, {
      name: 'serverimage-compress',
      // The worker's JS objects are few and short-lived (its data is in
      // transferred buffers, its compressors write into them: zlib-into.ts). A
      // small young generation keeps its heap small; V8's default one grew to tens
      // of MiB per worker (measured: -40 MiB peak RSS for two workers).
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 32 },
    });
    const slot: Slot = { worker };
    // Idle workers must not keep the process alive; a busy one is ref'd while it works.
    worker.unref();
    worker.on('message', (message: WorkerReply) => {
      const done = slot.current;
      slot.current = undefined;
      // Busy from here: from post to answer, so a worker waiting for its next
      // job while one is queued counts as busy (it is the queue that matters).
      this.busyMs += performance.now() - (slot.postedAt ?? performance.now());
      if (message.cpu) {
        this.cpuMs += message.cpu.ms;
        this.cpuOverBusyMs += message.cpu.overBusyMs;
      }
      worker.unref();
      if (done) {
        if (message.error) done.reject(new Error(`compressing a block failed: ${message.error}`));
        else done.resolve({ input: message.input, output: message.output, length: message.length });
      }
      this.dispatch();
    });
    const fail = (error: Error) => {
      slot.current?.reject(error);
      slot.current = undefined;
      if (this.closed) return;
      // A worker that died (e.g. out of memory) is replaced so later jobs still run.
      const index = this.slots.indexOf(slot);
      if (index >= 0) {
        void worker.terminate();
        this.slots[index] = this.spawn();
        this.dispatch();
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`compression worker exited (${code})`)));
    return slot;
  }

  /**
   * Closes the window once it is over, and adds a worker once the workers were
   * busy and got their CPU (GROW_AT_BUSY, GROW_AT_CPU) while jobs waited, for
   * GROW_AFTER_WINDOWS windows in a row.
   */
  private growIfBusy(): void {
    const now = performance.now();
    const window = now - this.windowStart;
    if (window < this.growWindowMs) return;
    const busyShare = this.busyMs / (window * this.slots.length);
    const cpuKnown = this.cpuOverBusyMs > 0;
    const cpuShare = cpuKnown ? this.cpuMs / this.cpuOverBusyMs : 0;
    this.busyMs = 0;
    this.cpuMs = 0;
    this.cpuOverBusyMs = 0;
    this.windowStart = now;
    // A window without a CPU report (a short one) tells nothing either way.
    if (cpuKnown) {
      const starved = busyShare >= GROW_AT_BUSY && cpuShare >= GROW_AT_CPU && this.queue.length > 0;
      this.starvedWindows = starved ? this.starvedWindows + 1 : 0;
    }
    if (this.starvedWindows >= GROW_AFTER_WINDOWS && this.slots.length < this.maxSize && !this.closed) {
      this.slots.push(this.spawn());
      this.starvedWindows = 0;
    }
  }

  private dispatch(): void {
    this.growIfBusy();
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.current) continue;
      const next = this.queue.shift()!;
      slot.current = next;
      slot.postedAt = performance.now();
      slot.worker.ref();
      const { job } = next;
      const message: WorkerJob = {
        input: job.input,
        length: job.length,
        output: job.output,
        options: job.options,
      };
      slot.worker.postMessage(message, [job.input, job.output]);
    }
  }
}

/**
 * One thread per core but one to start with: the main thread is busy too (TLS,
 * the two sha256s, HTTP), about a core's worth at full speed; the pool grows
 * when the data needs more (GROW_AT_BUSY). At most MAX_WORKERS (each is 10-16
 * MiB of RSS): four encode faster than most networks carry.
 */
const MAX_WORKERS = 4;

function defaultPoolSize(): number {
  return Math.min(MAX_WORKERS, Math.max(1, os.availableParallelism() - 1));
}

function defaultMaxPoolSize(): number {
  return Math.min(MAX_WORKERS, os.availableParallelism());
}

let shared: { pool: CompressionPool; users: number } | undefined;

/** How many streams hold the shared pool now (0: no worker threads exist). */
export function compressionPoolUsers(): number {
  return shared?.users ?? 0;
}

/** The process's shared pool, started on first use; call release() once when done with it. */
export function acquireCompressionPool(): { pool: CompressionPool; release: () => Promise<void> } {
  shared ??= { pool: new CompressionPool(), users: 0 };
  const mine = shared;
  mine.users++;
  let released = false;
  return {
    pool: mine.pool,
    release: async () => {
      if (released) return;
      released = true;
      if (--mine.users > 0) return;
      if (shared === mine) shared = undefined;
      await mine.pool.close();
    },
  };
}
