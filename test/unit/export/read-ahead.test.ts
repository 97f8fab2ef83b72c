import { readAhead } from '../../../src/export/read-ahead.js';

describe('readAhead', () => {
  it('keeps order and pulls ahead only up to its limit', async () => {
    let produced = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 20; i++) {
        produced++;
        yield Buffer.alloc(100, i);
      }
    }
    const iterator = readAhead(source(), 300)[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value![0]).toBe(0);
    await new Promise((r) => setTimeout(r, 20)); // let the producer run as far as it may
    expect(produced).toBeLessThanOrEqual(5); // 3 queued + 1 taken + 1 waiting to be queued
    const rest: number[] = [];
    for (let next = await iterator.next(); !next.done; next = await iterator.next())
      rest.push(next.value[0]!);
    expect(rest).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));
  });

  it('passes the source failure on after the chunks before it', async () => {
    async function* source(): AsyncGenerator<Buffer> {
      yield Buffer.from('a');
      throw new Error('boom');
    }
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of readAhead(source(), 10)) seen.push(chunk.toString());
      })(),
    ).rejects.toThrow('boom');
    expect(seen).toEqual(['a']);
  });

  it('stops the source when the consumer stops', async () => {
    let closed = false;
    async function* source(): AsyncGenerator<Buffer> {
      try {
        for (;;) yield Buffer.alloc(10);
      } finally {
        closed = true;
      }
    }
    for await (const _chunk of readAhead(source(), 100)) break;
    await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(true);
  });
});
