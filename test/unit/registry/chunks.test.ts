import { fixedSizeChunks, releaseChunks } from '../../../src/registry/chunks.js';

async function collect(source: Iterable<Buffer> | AsyncIterable<Buffer>, size: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of fixedSizeChunks(source, size)) out.push(Buffer.from(chunk));
  return out;
}

describe('fixedSizeChunks', () => {
  it('re-cuts pieces of any size into chunks of the given size, the last one shorter', async () => {
    const data = Buffer.from(Array.from({ length: 25 }, (_, i) => i));
    const pieces = [data.subarray(0, 3), data.subarray(3, 4), data.subarray(4, 21), data.subarray(21)];
    const chunks = await collect(pieces, 8);
    expect(chunks.map((c) => c.length)).toEqual([8, 8, 8, 1]);
    expect(Buffer.concat(chunks)).toEqual(data);
  });

  it('yields nothing for an empty source and exact multiples without a tail', async () => {
    expect(await collect([], 4)).toEqual([]);
    expect((await collect([Buffer.alloc(8)], 4)).map((c) => c.length)).toEqual([4, 4]);
  });

  it('passes source errors through', async () => {
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(3);
      throw new Error('boom');
    }
    await expect(collect(broken(), 2)).rejects.toThrow('boom');
  });
});

describe('fixedSizeChunks with rotating buffers', () => {
  it('reuses the same buffers in turn and keeps each chunk valid until two more are asked for', async () => {
    const data = Buffer.from(Array.from({ length: 20 }, (_, i) => i));
    const seen: Buffer[] = [];
    const copies: Buffer[] = [];
    for await (const chunk of fixedSizeChunks([data.subarray(0, 7), data.subarray(7)], 4, { rotate: 2 })) {
      seen.push(chunk);
      copies.push(Buffer.from(chunk));
    }
    expect(Buffer.concat(copies)).toEqual(data);
    expect(seen[0]!.buffer).toBe(seen[2]!.buffer);
    expect(seen[1]!.buffer).toBe(seen[3]!.buffer);
    expect(seen[0]!.buffer).not.toBe(seen[1]!.buffer);
  });

  it('rotates the buffers it hands to the caller, who releases them once done', async () => {
    const slots: Buffer[] = [];
    const seen = new Set<ArrayBufferLike>();
    for await (const chunk of fixedSizeChunks([Buffer.alloc(10 * 1024)], 1024, { rotate: 2, slots }))
      seen.add(chunk.buffer);
    expect(seen.size).toBe(2);
    expect(slots.map((s) => s.buffer)).toEqual([...seen]);
    releaseChunks(slots);
    expect(slots).toEqual([]);
    // Detached: their memory is freed at once.
    for (const buffer of seen) expect(buffer.byteLength).toBe(0);
  });
});
