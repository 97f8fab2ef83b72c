// Cuts a byte stream into upload chunks of a fixed size (the last one shorter).
//
// With `rotate: n`, chunks are filled into n buffers allocated once and used in turn, so
// a blob of any size costs n chunks of memory and no garbage: the uploader keeps one chunk
// on the wire while the next one fills (n = 2). The price is a contract: a yielded chunk
// stays valid only until the generator is asked for n more.

export interface ChunkOptions {
  /** Reuse this many buffers in turn instead of allocating one per chunk. */
  rotate?: number;
  /** Where the rotation's buffers are put as they are made, for releaseChunks once done. */
  slots?: Buffer[];
}

export async function* fixedSizeChunks(
  source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>,
  size: number,
  options: ChunkOptions = {},
): AsyncGenerator<Buffer> {
  if (!Number.isInteger(size) || size <= 0)
    throw new Error(`chunk size must be a positive integer, got ${size}`);
  const slots: Buffer[] = options.slots ?? [];
  let turn = 0;
  const nextBuffer = (): Buffer => {
    if (!options.rotate) return Buffer.allocUnsafe(size);
    const slot = turn++ % options.rotate;
    // allocUnsafeSlow: outside Node's shared pool, owned by this upload alone.
    slots[slot] ??= Buffer.allocUnsafeSlow(size);
    return slots[slot];
  };

  let current: Buffer | undefined;
  let held = 0;
  for await (const raw of source) {
    const piece = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let read = 0;
    while (read < piece.length) {
      current ??= nextBuffer();
      const copied = piece.copy(current, held, read, Math.min(piece.length, read + size - held));
      held += copied;
      read += copied;
      if (held === size) {
        yield current;
        current = undefined;
        held = 0;
      }
    }
  }
  if (held > 0 && current) yield current.subarray(0, held);
}

/**
 * Gives the rotation's buffers back to the allocator now rather than at V8's next
 * collection of them (see releaseBlock in src/export/parallel-compress.ts): detached,
 * they read as empty. Only once the generator is done and no chunk is on the wire.
 */
export function releaseChunks(slots: Buffer[]): void {
  // (allocUnsafeSlow: each slot is the whole of an ArrayBuffer of its own.)
  for (const slot of slots.splice(0)) (slot.buffer as ArrayBuffer).transfer(0);
}
