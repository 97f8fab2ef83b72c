// Cuts a byte stream into upload chunks of a fixed size (the last one shorter). Holds at
// most one chunk plus the piece that overflows it, so memory stays bounded whatever the
// size of the blob.

export async function* fixedSizeChunks(
  source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>,
  size: number,
): AsyncGenerator<Buffer> {
  if (!Number.isInteger(size) || size <= 0)
    throw new Error(`chunk size must be a positive integer, got ${size}`);
  let pieces: Buffer[] = [];
  let held = 0;
  for await (const raw of source) {
    let piece = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    while (piece.length > 0) {
      const take = Math.min(size - held, piece.length);
      pieces.push(piece.subarray(0, take));
      held += take;
      piece = piece.subarray(take);
      if (held === size) {
        yield pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size);
        pieces = [];
        held = 0;
      }
    }
  }
  if (held > 0) yield Buffer.concat(pieces, held);
}
