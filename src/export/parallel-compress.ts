// Compression is the slow stage of the data path (zlib manages 50-130 MiB/s per
// core). Cutting the stream into independent blocks and encoding each as its
// own gzip members (or zstd frame) lets every core work: blocks go to a pool of
// worker threads (compression-pool.ts, block-encoder.ts). Concatenated gzip
// members are one valid gzip stream (RFC 1952 2.2) and concatenated zstd frames
// one valid zstd stream; every reader (Go, containerd, zlib, CDI) decodes them
// as a whole. Output stays in input order.
//
// Memory is a fixed set of block buffers (input + output), allocated once per
// stream and reused: the source is read ahead into free blocks while the
// consumer is busy (e.g. waiting for the registry), and a block is free again
// once the consumer asks for the output after it. No per-block garbage. When the
// stream ends its blocks are released at once (releaseBlock).
import { outputBound, type EncodeOptions } from './block-encoder.js';
import { acquireCompressionPool, type CompressionPool } from './compression-pool.js';

export type Compression = 'gzip' | 'zstd';

export interface ParallelCompressOptions {
  algorithm: Compression;
  /** gzip 1-9 (default 1, go-containerregistry's choice), zstd 1-19 (default 3). */
  level?: number;
  /** Uncompressed bytes per block. Default 1 MiB. */
  blockSize?: number;
  /**
   * Bytes of the first block only (at most blockSize). The layer passes its tar
   * headers' size, so that the blocks after it, and the segments the encoder
   * classifies, line up with the disk's own offsets (zero runs, file system
   * blocks) instead of straddling them. Default blockSize.
   */
  firstBlockSize?: number;
  /** Blocks in flight (filling, compressing, waiting for the consumer). Default 2 per worker + 2. */
  concurrency?: number;
  /**
   * Sees every uncompressed block in order, before it is compressed (e.g. to
   * hash the stream in block-sized steps). The buffer is valid only during the call.
   */
  onBlock?: (block: Buffer) => void;
  /** Workers to use; default the process's shared pool (acquired and released here). */
  pool?: CompressionPool;
}

/** 1 MiB: members of this size compress as well as one stream (deflate's window is 32 KiB), and blocks in flight stay a few MiB. */
export const DEFAULT_BLOCK_SIZE = 1024 * 1024;

interface Block {
  input: ArrayBuffer;
  output: ArrayBuffer;
}

/**
 * The compressed stream of `source`. Each yielded buffer is valid until the
 * next one is requested (its memory is reused): copy it to keep it.
 */
export async function* compressInBlocks(
  source: AsyncIterable<Buffer>,
  options: ParallelCompressOptions,
): AsyncGenerator<Buffer> {
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  const encodeOptions: EncodeOptions = {
    algorithm: options.algorithm,
    level: options.level ?? (options.algorithm === 'zstd' ? 3 : 1),
  };
  const acquired = options.pool ? undefined : acquireCompressionPool();
  const pool = options.pool ?? acquired!.pool;
  // Read at each allocation: the pool may grow while the stream runs.
  const depth = () => Math.max(1, options.concurrency ?? pool.size * 2 + 2);
  const outputBytes = outputBound(blockSize);

  const free: Block[] = [];
  let allocated = 0;
  const results: Promise<{ block: Block; length: number }>[] = [];
  let sourceDone = false;
  let failure: { error: unknown } | undefined;
  let stopped = false;
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;

  const takeBlock = async (): Promise<Block | undefined> => {
    while (!stopped) {
      const block = free.pop();
      if (block) return block;
      if (allocated < depth()) {
        allocated++;
        return { input: new ArrayBuffer(blockSize), output: new ArrayBuffer(outputBytes) };
      }
      await new Promise<void>((resolve) => (wakeProducer = resolve));
      wakeProducer = undefined;
    }
    return undefined;
  };

  const submit = (block: Block, length: number) => {
    options.onBlock?.(Buffer.from(block.input, 0, length));
    const job = pool
      .encode({ input: block.input, length, output: block.output, options: encodeOptions })
      .then((done) => ({ block: { input: done.input, output: done.output }, length: done.length }));
    // Taken in order by the consumer; a failure is marked handled now and surfaces then.
    job.catch(() => undefined);
    results.push(job);
    wakeConsumer?.();
  };

  const iterator = source[Symbol.asyncIterator]();
  const producer = (async () => {
    try {
      let block = await takeBlock();
      if (!block) return;
      let view = Buffer.from(block.input);
      let filled = 0;
      let limit = Math.min(blockSize, Math.max(1, options.firstBlockSize ?? blockSize));
      for (;;) {
        const next = await iterator.next();
        if (next.done || stopped) break;
        const chunk = next.value;
        let offset = 0;
        while (offset < chunk.length) {
          const n = Math.min(limit - filled, chunk.length - offset);
          chunk.copy(view, filled, offset, offset + n);
          filled += n;
          offset += n;
          if (filled === limit) {
            submit(block, filled);
            limit = blockSize;
            block = await takeBlock();
            if (!block) return;
            view = Buffer.from(block.input);
            filled = 0;
          }
        }
      }
      if (filled > 0 && !stopped) submit(block, filled);
      else free.push(block);
    } catch (error) {
      failure = { error };
    } finally {
      sourceDone = true;
      wakeConsumer?.();
    }
  })();

  try {
    for (;;) {
      // A source failure (or an abort) wins over output still in flight.
      if (failure) throw failure.error;
      const next = results.shift();
      if (next) {
        const { block, length } = await next;
        yield Buffer.from(block.output, 0, length);
        free.push(block);
        wakeProducer?.();
        continue;
      }
      if (sourceDone) return;
      await new Promise<void>((resolve) => (wakeConsumer = resolve));
      wakeConsumer = undefined;
    }
  } finally {
    // Stop reading; let the source clean up (close its connection) once the
    // producer is out of it. Not awaited: the producer may be waiting on the network.
    stopped = true;
    wakeProducer?.();
    void producer.then(() => iterator.return?.()).catch(() => undefined);
    for (const block of free.splice(0)) releaseBlock(block);
    await acquired?.release();
  }
}

/**
 * Gives a block's memory back to the allocator now. Left to V8, ArrayBuffers are freed
 * at its next collection of them, which an operator idle after its transfers may not do
 * for a long time: 34 MiB of finished transfers' buffers were still held in one such idle
 * (docs/benchmarks.md, "The operator's memory"). Detaching (transfer(0)) frees an ArrayBuffer's memory
 * at once. Only blocks back in the free list are released: they are neither in a worker
 * nor lent to the consumer, which asked for more (or stopped) after its last output; one
 * still in a worker when the stream stops is left to the collector.
 */
function releaseBlock(block: Block): void {
  block.input.transfer(0);
  block.output.transfer(0);
}
