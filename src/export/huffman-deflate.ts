// Deflate with Huffman coding only (RFC 1951 3.2.7, dynamic codes, no LZ77
// matches), written straight into the caller's buffer.
//
// Why not zlib's Z_HUFFMAN_ONLY: it runs every byte through its block tallies,
// ~175 MiB/s here; this table-driven coder does the same coding at ~270 MiB/s
// (histograms, codes and block headers included) and allocates nothing (zlib's
// sync calls allocate an output Buffer per call). Its blocks are 256 KiB where
// zlib's are ~16 KiB, so on data whose byte statistics change quickly zlib's
// output is smaller; on the noise-like runs it gets, the two are within 0.2%. It is only used for runs where LZ77 was
// measured to gain nothing (block-encoder.ts), so matches are not missed.

export interface HuffmanDeflate {
  /**
   * Writes `input` as final deflate blocks (one per 256 KiB) into `output`
   * from `at`, ending on a byte boundary. Returns the end offset, or -1 (and
   * output beyond `at` is garbage) if the result would pass `limit`.
   */
  encode(input: Uint8Array, output: Uint8Array, at: number, limit: number): number;
  /** Bits of one block that codes bytes with these counts (256 entries), header included: to compare with LZ77. */
  blockBits(counts: Uint32Array): number;
}

export function createHuffmanDeflate(): HuffmanDeflate {
  const SEGMENT = 256 * 1024;
  const LITERALS = 257; // bytes 0-255 and end-of-block (256); no match lengths
  const END_OF_BLOCK = 256;
  /** The code-length code's symbols in the order their lengths are sent (RFC 1951 3.2.7). */
  const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

  const counts = new Uint32Array(LITERALS);
  const lengths = new Uint8Array(LITERALS);
  const codes = new Uint16Array(LITERALS);
  /** Per byte: its code (low 16 bits) and code length (high 16 bits), for the hot loop. */
  const table = new Uint32Array(256);
  const quarterCounts = new Uint32Array(4 * 256);
  const clCounts = new Uint32Array(19);
  const clLengths = new Uint8Array(19);
  const clCodes = new Uint16Array(19);
  /** Symbols of the code-length sequence, each with its extra bits: [symbol, extraBits, extraValue]. */
  const clSymbols: number[] = [];
  /** How many code-length code lengths the header sends (4-19; trailing zeros in CODE_LENGTH_ORDER are left off). */
  let clSent = 19;
  /** Bit writer state between the header writer and the hot loop. */
  const state = { bits: 0, count: 0, at: 0 };

  /**
   * Huffman code lengths, at most maxBits long, for the symbol counts (0 =
   * unused). At least two symbols get a code (as zlib does), so every code is
   * complete and any inflater accepts it. Over-long codes are shortened as
   * libjpeg does (JPEG Annex K.3), keeping the code complete.
   */
  function buildLengths(freqs: Uint32Array, out: Uint8Array, maxBits: number): void {
    out.fill(0);
    const used: number[] = [];
    for (let i = 0; i < freqs.length; i++) if (freqs[i]! > 0) used.push(i);
    for (let i = 0; used.length < 2; i++) if (freqs[i] === 0) used.push(i);
    const weight = (s: number) => freqs[s] || 1;
    used.sort((a, b) => weight(a) - weight(b) || a - b);
    // Two queues: the sorted leaves, and the merged nodes (made in order of weight).
    const n = used.length;
    const weights = new Float64Array(2 * n - 1);
    const parent = new Int32Array(2 * n - 1);
    for (let i = 0; i < n; i++) weights[i] = weight(used[i]!);
    let leaf = 0;
    let merged = n;
    const take = (made: number) =>
      leaf < n && (merged >= made || weights[leaf]! <= weights[merged]!) ? leaf++ : merged++;
    for (let made = n; made < 2 * n - 1; made++) {
      const a = take(made);
      const b = take(made);
      weights[made] = weights[a]! + weights[b]!;
      parent[a] = made;
      parent[b] = made;
    }
    const depth = new Uint8Array(2 * n - 1);
    const perLength = new Uint32Array(Math.max(maxBits, n) + 1);
    for (let i = 2 * n - 3; i >= 0; i--) depth[i] = depth[parent[i]!]! + 1;
    let longest = 0;
    for (let i = 0; i < n; i++) {
      perLength[depth[i]!]!++;
      longest = Math.max(longest, depth[i]!);
    }
    // Shorten: move pairs of the longest codes up, splitting a shorter code.
    for (let len = longest; len > maxBits; len--) {
      while (perLength[len]! > 0) {
        let j = len - 2;
        while (perLength[j] === 0) j--;
        perLength[len]! -= 2;
        perLength[len - 1]!++;
        perLength[j + 1]! += 2;
        perLength[j]!--;
      }
    }
    // The most frequent symbols (end of `used`) get the shortest codes.
    let next = n - 1;
    for (let len = 1; len <= maxBits; len++) {
      for (let k = perLength[len]!; k > 0; k--) out[used[next--]!] = len;
    }
  }

  /** Canonical codes for the lengths (RFC 1951 3.2.2), bit-reversed: deflate sends codes from their top bit. */
  function buildCodes(lens: Uint8Array, out: Uint16Array): void {
    const perLength = new Uint16Array(16);
    for (let i = 0; i < lens.length; i++) perLength[lens[i]!]!++;
    perLength[0] = 0;
    const next = new Uint16Array(16);
    for (let len = 1, code = 0; len < 16; len++) {
      code = (code + perLength[len - 1]!) << 1;
      next[len] = code;
    }
    for (let i = 0; i < lens.length; i++) {
      const len = lens[i]!;
      if (len === 0) continue;
      let code = next[len]!++;
      let reversed = 0;
      for (let b = 0; b < len; b++) {
        reversed = (reversed << 1) | (code & 1);
        code >>>= 1;
      }
      out[i] = reversed;
    }
  }

  function put(output: Uint8Array, value: number, bits: number): void {
    state.bits |= value << state.count;
    state.count += bits;
    while (state.count >= 8) {
      output[state.at++] = state.bits & 0xff;
      state.bits >>>= 8;
      state.count -= 8;
    }
  }

  /** The code-length sequence of the literal and distance code lengths, run-length coded (symbols 16, 17, 18). */
  function codeLengthSymbols(sequence: number[]): void {
    clSymbols.length = 0;
    for (let i = 0; i < sequence.length;) {
      const len = sequence[i]!;
      let run = 1;
      while (i + run < sequence.length && sequence[i + run] === len) run++;
      i += run;
      if (len === 0) {
        for (; run >= 11;) {
          const r = Math.min(138, run);
          clSymbols.push(18, 7, r - 11);
          run -= r;
        }
        if (run >= 3) {
          clSymbols.push(17, 3, run - 3);
          run = 0;
        }
      } else {
        clSymbols.push(len, 0, 0);
        run--;
        for (; run >= 3;) {
          const r = Math.min(6, run);
          clSymbols.push(16, 2, r - 3);
          run -= r;
        }
      }
      for (; run > 0; run--) clSymbols.push(len, 0, 0);
    }
  }

  /**
   * Plans the dynamic block header for the current literal code lengths (the
   * code-length code and the run-length coded lengths); returns its size in bits.
   */
  function planHeader(): number {
    // Two distance codes of one bit, unused: what zlib sends when there are no matches.
    const sequence = [...lengths, 1, 1];
    codeLengthSymbols(sequence);
    clCounts.fill(0);
    for (let i = 0; i < clSymbols.length; i += 3) clCounts[clSymbols[i]!]!++;
    buildLengths(clCounts, clLengths, 7);
    buildCodes(clLengths, clCodes);
    clSent = 19;
    while (clSent > 4 && clLengths[CODE_LENGTH_ORDER[clSent - 1]!] === 0) clSent--;
    let bits = 3 + 5 + 5 + 4 + 3 * clSent;
    for (let i = 0; i < clSymbols.length; i += 3) bits += clLengths[clSymbols[i]!]! + clSymbols[i + 1]!;
    return bits;
  }

  /** Writes the header planHeader() planned. */
  function writeHeader(output: Uint8Array, final: boolean): void {
    const sent = clSent;
    put(output, final ? 1 : 0, 1);
    put(output, 2, 2); // BTYPE 10: dynamic Huffman codes
    put(output, LITERALS - 257, 5);
    put(output, 2 - 1, 5);
    put(output, sent - 4, 4);
    for (let i = 0; i < sent; i++) put(output, clLengths[CODE_LENGTH_ORDER[i]!]!, 3);
    for (let i = 0; i < clSymbols.length; i += 3) {
      const symbol = clSymbols[i]!;
      put(output, clCodes[symbol]!, clLengths[symbol]!);
      if (clSymbols[i + 1]) put(output, clSymbols[i + 2]!, clSymbols[i + 1]!);
    }
  }

  /**
   * The hot loop: one table load per byte. Branch-free (the two output bytes
   * are always stored, and kept only once 16 bits are full: code lengths vary,
   * so a branch there is mispredicted often) and unrolled by four; kept apart,
   * with its state in locals, so that V8 optimises it on its own. ~2x faster
   * than the plain loop.
   */
  function writeLiterals(input: Uint8Array, start: number, end: number, output: Uint8Array): void {
    let bits = state.bits;
    let count = state.count;
    let at = state.at;
    let full: number;
    let entry: number;
    let i = start;
    const unrolledEnd = start + ((end - start) & ~3);
    for (; i < unrolledEnd; i += 4) {
      entry = table[input[i]!]!;
      bits |= (entry & 0xffff) << count;
      count += entry >>> 16;
      output[at] = bits;
      output[at + 1] = bits >>> 8;
      full = count >>> 4;
      at += full << 1;
      bits >>>= full << 4;
      count -= full << 4;
      entry = table[input[i + 1]!]!;
      bits |= (entry & 0xffff) << count;
      count += entry >>> 16;
      output[at] = bits;
      output[at + 1] = bits >>> 8;
      full = count >>> 4;
      at += full << 1;
      bits >>>= full << 4;
      count -= full << 4;
      entry = table[input[i + 2]!]!;
      bits |= (entry & 0xffff) << count;
      count += entry >>> 16;
      output[at] = bits;
      output[at + 1] = bits >>> 8;
      full = count >>> 4;
      at += full << 1;
      bits >>>= full << 4;
      count -= full << 4;
      entry = table[input[i + 3]!]!;
      bits |= (entry & 0xffff) << count;
      count += entry >>> 16;
      output[at] = bits;
      output[at + 1] = bits >>> 8;
      full = count >>> 4;
      at += full << 1;
      bits >>>= full << 4;
      count -= full << 4;
    }
    for (; i < end; i++) {
      entry = table[input[i]!]!;
      bits |= (entry & 0xffff) << count;
      count += entry >>> 16;
      output[at] = bits;
      output[at + 1] = bits >>> 8;
      full = count >>> 4;
      at += full << 1;
      bits >>>= full << 4;
      count -= full << 4;
    }
    state.bits = bits;
    state.count = count;
    state.at = at;
  }

  /** Byte counts of input[start, end), with end-of-block once. Four count arrays, so that repeated bytes do not wait on each other's increments (~1.7x faster). */
  function histogram(input: Uint8Array, start: number, end: number): void {
    quarterCounts.fill(0);
    let i = start;
    for (const unrolledEnd = start + ((end - start) & ~3); i < unrolledEnd; i += 4) {
      quarterCounts[input[i]!]!++;
      quarterCounts[256 + input[i + 1]!]!++;
      quarterCounts[512 + input[i + 2]!]!++;
      quarterCounts[768 + input[i + 3]!]!++;
    }
    for (; i < end; i++) quarterCounts[input[i]!]!++;
    for (let s = 0; s < 256; s++)
      counts[s] =
        quarterCounts[s]! + quarterCounts[256 + s]! + quarterCounts[512 + s]! + quarterCounts[768 + s]!;
    counts[END_OF_BLOCK] = 1;
  }

  function literalBits(): number {
    let bits = 0;
    for (let s = 0; s < LITERALS; s++) bits += counts[s]! * lengths[s]!;
    return bits;
  }

  function encode(input: Uint8Array, output: Uint8Array, at: number, limit: number): number {
    state.bits = 0;
    state.count = 0;
    state.at = at;
    let start = 0;
    do {
      const end = Math.min(start + SEGMENT, input.length);
      histogram(input, start, end);
      buildLengths(counts, lengths, 15);
      // Known before a byte is written: stop if the block cannot fit (plus its bit flush).
      const blockBits = planHeader() + literalBits();
      if (state.at + Math.ceil((state.count + blockBits) / 8) + 2 > limit) return -1;
      buildCodes(lengths, codes);
      writeHeader(output, end === input.length);
      for (let s = 0; s < 256; s++) table[s] = codes[s]! | (lengths[s]! << 16);
      writeLiterals(input, start, end, output);
      put(output, codes[END_OF_BLOCK]!, lengths[END_OF_BLOCK]!);
      start = end;
    } while (start < input.length);
    if (state.count > 0) put(output, 0, 8 - state.count);
    return state.at;
  }

  function blockBits(byteCounts: Uint32Array): number {
    counts.set(byteCounts.subarray(0, 256));
    counts[END_OF_BLOCK] = 1;
    buildLengths(counts, lengths, 15);
    return planHeader() + literalBits();
  }

  return { encode, blockBits };
}
