// The sha256 of a whole disk taken on a worker thread (disk-hash-worker.ts) while the
// push hashes, compresses and uploads its chunks on the main thread and libuv's pool:
// the disk is hashed twice (whole, and chunk by chunk), and this way the two passes run
// on two cores. The bytes are views of SharedArrayBuffers (chunk-buffers.ts): nothing is
// copied; update() resolves when the worker is done with them and they may be reused.
// One worker per push, ended by close() however the push ends.
import { Worker } from 'node:worker_threads';
import type { HashMessage, HashReply } from './disk-hash-worker.js';

/** Under tsx and jest this module runs from src (.ts), in dist/ as compiled .js. */
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './disk-hash-worker.ts' : './disk-hash-worker.js',
  import.meta.url,
);

export class DiskHasher {
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
