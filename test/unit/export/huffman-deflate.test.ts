import { randomBytes } from 'node:crypto';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { createHuffmanDeflate } from '../../../src/export/huffman-deflate.js';

const huffman = createHuffmanDeflate();

/** Letters drawn independently from a skewed alphabet: no repeats for LZ77, a skewed histogram. */
function textNoise(length: number): Buffer {
  const alphabet = Buffer.from('eeeeeeeettttttaaaaaooooiiiinnnsssshhrrdlcumwfgypbvkjxqz     \n');
  return Buffer.from(randomBytes(length).map((b) => alphabet[b % alphabet.length]!));
}

/** A seeded generator, so a failing case can be told again. */
function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

function encode(input: Uint8Array, limit?: number): { length: number; bytes: Buffer } {
  const output = Buffer.alloc(2 * input.length + 1024);
  const length = huffman.encode(input, output, 0, limit ?? output.length);
  return { length, bytes: output.subarray(0, Math.max(0, length)) };
}

describe('Huffman-only deflate', () => {
  it.each([
    ['text-like noise', textNoise(700_000)],
    ['random bytes', randomBytes(300_000)],
    ['nothing', Buffer.alloc(0)],
    ['one byte', Buffer.from('a')],
    ['one byte value repeated', Buffer.alloc(100_000, 7)],
    ['two byte values', Buffer.from('ab'.repeat(5000))],
    ['every byte value once', Buffer.from(Array.from({ length: 256 }, (_, i) => i))],
    ['not a multiple of four bytes', textNoise(262_147)],
  ])('zlib inflates %s back to the input', (_name, input) => {
    const { bytes } = encode(input);
    expect(inflateRawSync(bytes).equals(input)).toBe(true);
  });

  it('limits code lengths to 15 bits on a histogram that would need longer codes', () => {
    // Counts that grow like Fibonacci numbers give a Huffman tree as deep as there are symbols.
    const fibonacci = [1, 1];
    while (fibonacci.length < 24) fibonacci.push(fibonacci.at(-1)! + fibonacci.at(-2)!);
    const input = Buffer.from(fibonacci.flatMap((count, symbol) => Array<number>(count).fill(symbol)));
    const next = seeded(7);
    for (let i = input.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [input[i], input[j]] = [input[j]!, input[i]!];
    }
    const { bytes } = encode(input);
    expect(inflateRawSync(bytes).equals(input)).toBe(true);
  });

  it('round-trips many random histograms and lengths', () => {
    const next = seeded(42);
    for (let round = 0; round < 150; round++) {
      const length = Math.floor(next() * 600_000);
      const symbols = 1 + Math.floor(next() * 256);
      const skew = 1 + next() * 12;
      const input = Buffer.alloc(length);
      for (let i = 0; i < length; i++) input[i] = Math.floor(next() ** skew * symbols);
      // An unaligned view: the encoder must not assume its input starts at a word boundary.
      const view = Buffer.concat([Buffer.from([9]), input]).subarray(1);
      const { bytes } = encode(view);
      expect({ round, same: inflateRawSync(bytes).equals(input) }).toEqual({ round, same: true });
    }
  });

  it('codes text-like noise as small as zlib Z_HUFFMAN_ONLY does', () => {
    const input = textNoise(1024 * 1024);
    const zlibSize = deflateRawSync(input, { strategy: constants.Z_HUFFMAN_ONLY }).length;
    expect(encode(input).length).toBeLessThan(zlibSize * 1.01);
    expect(encode(input).length).toBeLessThan(input.length * 0.7);
  });

  it('gives up (-1) before it would pass the limit, writing nothing at or after it', () => {
    const input = randomBytes(200_000);
    const output = Buffer.alloc(300_000, 0xee);
    expect(huffman.encode(input, output, 10, 150_000)).toBe(-1);
    expect(output.subarray(150_000).every((b) => b === 0xee)).toBe(true);
    // Room enough: it fits, and says where it ended.
    const end = huffman.encode(input, output, 10, output.length);
    expect(end).toBeGreaterThan(200_010);
    expect(inflateRawSync(output.subarray(10, end)).equals(input)).toBe(true);
  });

  it('predicts the size of a block from its byte counts', () => {
    const input = textNoise(100_000);
    const counts = new Uint32Array(256);
    for (const byte of input) counts[byte]!++;
    expect(Math.ceil(huffman.blockBits(counts) / 8)).toBe(encode(input).length);
  });
});
