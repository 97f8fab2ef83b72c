// The sha256 of a whole disk taken on a worker thread (disk-hash-worker.ts) while the
// push hashes, compresses and uploads its chunks on the main thread and libuv's pool:
// the disk is hashed twice (whole, and chunk by chunk), and this way the two passes run
// on two cores. The bytes are views of SharedArrayBuffers (chunk-buffers.ts): nothing is
// copied; update() resolves when the worker is done with them and they may be reused.
// One worker per push, ended by close() however the push ends.
//
// Only where there is a core for it: on the bench's 2 busy cores the thread took 5% more
// CPU (messages, a second isolate) and 10 MiB more RSS for no shorter push, since the
// main thread and zstd's threads keep both cores busy already (docs/incremental-backups.md).
// There the disk is hashed on the main thread (InlineDiskHasher), the same interface.
import { createHash } from 'node:crypto';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { HashMessage, HashReply } from './disk-hash-worker.js';

/** Under tsx and jest this module runs from src (.ts), in dist/ as compiled .js. */
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './disk-hash-worker.ts' : './disk-hash-worker.js',
  import.meta.url,
);

export interface WholeDiskHasher {
  /** Adds `bytes`; resolves when they may be overwritten. */
  update(bytes: Buffer): Promise<void>;
  /** `sha256:<hex>` of all bytes added; call once, after the last update. */
  digest(): Promise<string>;
  close(): Promise<void>;
}

/** Cores at which the hash gets a thread of its own: one for it beside the main thread and zstd's. */
export const HASH_THREAD_FROM_CORES = 3;

/** The hasher for this machine: a thread of its own from HASH_THREAD_FROM_CORES cores. */
export function wholeDiskHasher(
  thread = os.availableParallelism() >= HASH_THREAD_FROM_CORES,
): WholeDiskHasher {
  return thread ? new DiskHasher() : new InlineDiskHasher();
}

/** The disk's sha256 on the calling thread. */
export class InlineDiskHasher implements WholeDiskHasher {
  private readonly hash = createHash('sha256');

  update(bytes: Buffer): Promise<void> {
    this.hash.update(bytes);
    return Promise.resolve();
  }

  digest(): Promise<string> {
    return Promise.resolve(`sha256:${this.hash.digest('hex')}`);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class DiskHasher implements WholeDiskHasher {
  private readonly worker = new Worker(WORKER_URL);
  private readonly acks = new Map<number, () => void>();
  private nextId = 0;
  private readonly buffers = new Map<SharedArrayBuffer, number>();
  private finished: ((hex: string) => void) | undefined;
  private failed: ((err: Error) => void) | undefined;
  private failure: Error | undefined;

  constructor() {
    this.worker.on('message', (reply: HashReply) => {
      if (reply.kind === 'hashed') {
        this.acks.get(reply.id)?.();
        this.acks.delete(reply.id);
      } else {
        this.finished?.(reply.hex);
      }
    });
    const fail = (err: Error) => {
      this.failure ??= err;
      // The buffers are free again: nothing hashes them any more.
      for (const ack of this.acks.values()) ack();
      this.acks.clear();
      this.failed?.(this.failure);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the disk's hash thread ended (exit code ${code})`)));
  }

  /** Adds `bytes` (a view of a SharedArrayBuffer); resolves when they may be overwritten. */
  update(bytes: Buffer): Promise<void> {
    if (!(bytes.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('DiskHasher.update takes views of a SharedArrayBuffer');
    }
    if (this.failure) return Promise.resolve();
    let buffer = this.buffers.get(bytes.buffer);
    if (buffer === undefined) {
      buffer = this.buffers.size;
      this.buffers.set(bytes.buffer, buffer);
      this.worker.postMessage({ kind: 'buffer', buffer, shared: bytes.buffer } satisfies HashMessage);
    }
    const id = this.nextId++;
    const done = new Promise<void>((resolve) => this.acks.set(id, resolve));
    const message: HashMessage = {
      kind: 'update',
      id,
      buffer,
      offset: bytes.byteOffset,
      length: bytes.length,
    };
    this.worker.postMessage(message);
    return done;
  }

  /** `sha256:<hex>` of all bytes added; call once, after the last update. */
  digest(): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<string>((resolve, reject) => {
      this.finished = (hex) => resolve(`sha256:${hex}`);
      this.failed = reject;
      this.worker.postMessage({ kind: 'digest' } satisfies HashMessage);
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
