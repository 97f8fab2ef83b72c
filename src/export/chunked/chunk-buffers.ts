// The chunk buffers of a push: a few buffers of the chunk size, allocated once and
// reused, instead of a new one per chunk (which cost the push a copy-and-collect of the
// whole disk in garbage). They are SharedArrayBuffers so that the disk's hash thread
// (disk-hasher.ts) reads them where they are. A chunk is held by whoever still needs its
// bytes (the hash thread, the chunk's own hash, compression, a HEAD that may fall back to
// an upload) and returns to the pool when the last one lets go.
import type { DiskSource } from './push-chunked-disk.js';

export interface PooledChunk {
  /** The chunk's bytes: a view of a pooled buffer, valid until the last release(). */
  bytes: Buffer;
  /** Adds a holder; each hold() needs a release(). The chunk starts with one holder. */
  hold(): void;
  release(): void;
}

export class ChunkBufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: ((buffer: Buffer) => void)[] = [];

  /** `count` buffers of `size` bytes. */
  constructor(size: number, count: number) {
    for (let i = 0; i < count; i++) this.free.push(Buffer.from(new SharedArrayBuffer(size)));
  }

  /** A free buffer, waiting for one to be released when all are held. */
  acquire(): Promise<Buffer> {
    const buffer = this.free.pop();
    if (buffer) return Promise.resolve(buffer);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private give(buffer: Buffer): void {
    const next = this.waiting.shift();
    if (next) next(buffer);
    else this.free.push(buffer);
  }

  /** A chunk over `buffer`'s first `length` bytes, given back to the pool when released. */
  chunk(buffer: Buffer, length: number): PooledChunk {
    let holders = 1;
    return {
      bytes: buffer.subarray(0, length),
      hold: () => {
        holders++;
      },
      release: () => {
        if (--holders === 0) this.give(buffer);
        else if (holders < 0) throw new Error('chunk buffer released more often than held');
      },
    };
  }
}

/**
 * The disk cut into `chunkSize` pieces (the last may be shorter), each copied once from
 * the source's buffers (which the source reuses) into a pooled buffer. The consumer
 * releases each chunk; reading waits while every buffer is held.
 */
export async function* pooledChunks(
  disk: DiskSource,
  chunkSize: number,
  pool: ChunkBufferPool,
): AsyncGenerator<PooledChunk> {
  let remaining = disk.size;
  if (remaining === 0) return;
  let buffer = await pool.acquire();
  let want = Math.min(chunkSize, remaining);
  let filled = 0;
  for await (const piece of disk.body) {
    let at = 0;
    while (at < piece.length && remaining > 0) {
      const n = Math.min(piece.length - at, want - filled, remaining);
      piece.copy(buffer, filled, at, at + n);
      filled += n;
      at += n;
      remaining -= n;
      if (filled === want) {
        yield pool.chunk(buffer, filled);
        filled = 0;
        if (remaining === 0) return;
        want = Math.min(chunkSize, remaining);
        buffer = await pool.acquire();
      }
    }
    if (remaining === 0) break;
  }
  if (filled > 0) yield pool.chunk(buffer, filled);
  else if (remaining > 0) pool.chunk(buffer, 0).release();
}
