// A small fixed pool of worker threads that encode blocks (block-encoder.ts),
// one per core but one (see defaultPoolSize): zlib's synchronous calls in a
// worker keep a core busy with no round trip to the main thread per output
// piece, and the main thread stays free for TLS, hashing and HTTP. Blocks travel as transferred ArrayBuffers
// (input and output move to the worker and back, never copied).
//
// One pool is shared by all pushes of the process (the operator runs several at
// once): jobs queue in order of arrival. acquireCompressionPool() counts users;
// when the last one releases it, the workers are terminated, so nothing is left
// running after a push ends or fails.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { BLOCK_ENCODER_SOURCE, type EncodeOptions } from './block-encoder.js';

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

const WORKER_SOURCE = `${BLOCK_ENCODER_SOURCE}
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (job) => {
  let length = 0;
  let error;
  try {
    length = blockEncoder.encodeBlock(Buffer.from(job.input, 0, job.length), Buffer.from(job.output), job.options);
  } catch (err) {
    error = String((err && err.stack) || err);
  }
  parentPort.postMessage({ input: job.input, output: job.output, length, error }, [job.input, job.output]);
});
`;

interface Pending {
  job: EncodeJob;
  resolve: (result: EncodeResult) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  current?: Pending;
}

export interface CompressionPoolOptions {
  /** Worker threads. Default: one per core but one. */
  size?: number;
}

export class CompressionPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private closed = false;

  constructor(options: CompressionPoolOptions = {}) {
    this.size = options.size ?? defaultPoolSize();
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn());
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
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: 'serverimage-compress',
      // The worker's JS objects are few and short-lived (its data is in
      // transferred buffers), but zlib's sync calls allocate a Buffer for their
      // output each time. A small young generation is scavenged often, which
      // frees those too; V8's default one grew to tens of MiB of garbage per
      // worker (measured: -40 MiB peak RSS for two workers).
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 32 },
    });
    const slot: Slot = { worker };
    // Idle workers must not keep the process alive; a busy one is ref'd while it works.
    worker.unref();
    worker.on('message', (message: EncodeResult & { error?: string }) => {
      const done = slot.current;
      slot.current = undefined;
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

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.current) continue;
      const next = this.queue.shift()!;
      slot.current = next;
      slot.worker.ref();
      const { job } = next;
      slot.worker.postMessage(
        { input: job.input, length: job.length, output: job.output, options: job.options },
        [job.input, job.output],
      );
    }
  }
}

/**
 * One thread per core but one: the main thread is busy too (TLS, the two
 * sha256s, HTTP), about a core's worth at full speed. On 2 cores a second
 * worker made the 2 GiB benchmark slower (8.3-9.4 s against 7.6-8.2 s: the
 * threads, the export server and the registry then fight over the cores) and
 * cost ~28 MiB of RSS (164 against 135 MiB). At most
 * MAX_WORKERS (each is ~20 MiB): four encode faster than most networks carry.
 */
const MAX_WORKERS = 4;

function defaultPoolSize(): number {
  return Math.min(MAX_WORKERS, Math.max(1, os.availableParallelism() - 1));
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
