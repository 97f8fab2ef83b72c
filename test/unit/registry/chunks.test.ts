import { fixedSizeChunks } from '../../../src/registry/chunks.js';

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
