// sha256 and byte count of a stream, taken while the bytes pass through: the
// data path never holds a whole layer, so digests can only be computed on the fly.
import { createHash, type Hash } from 'node:crypto';

export class StreamDigest {
  private readonly hash: Hash = createHash('sha256');
  private total = 0;
  private result: string | undefined;

  update(chunk: Buffer): void {
    if (this.result) throw new Error('digest already finished');
    this.hash.update(chunk);
    this.total += chunk.length;
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.total;
  }

  /** `sha256:<hex>`; call once the stream has ended. */
  digest(): string {
    this.result ??= `sha256:${this.hash.digest('hex')}`;
    return this.result;
  }
}

/** Passes `source` through unchanged, feeding every chunk to `digest`. */
export async function* tapDigest(
  source: AsyncIterable<Buffer>,
  digest: StreamDigest,
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    digest.update(chunk);
    yield chunk;
  }
}
