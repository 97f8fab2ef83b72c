// The chunked disk format without a registry: deterministic chunk compression, the cut
// into fixed chunks, the chunk size rule, and the manifest's parse (what a reader refuses).
import { createHash, randomBytes } from 'node:crypto';
import {
  CHUNKED,
  chunkSizeFor,
  compressChunk,
  decompressChunk,
  DEFAULT_CHUNK_SIZE,
  fixedChunks,
  MAX_CHUNKS,
  NotChunkedError,
} from '../../../src/export/chunked/index.js';
import { chunkedManifest, parseChunkedManifest } from '../../../src/export/chunked/format.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  // Reuses one buffer, as the export source does: a consumer must copy.
  const scratch = Buffer.alloc(size);
  for (let at = 0; at < data.length; at += size) {
    const n = data.copy(scratch, 0, at, Math.min(at + size, data.length));
    yield scratch.subarray(0, n);
  }
}

describe('chunk compression', () => {
  it('gives identical bytes for identical input, also when several run at once', async () => {
    const text = Buffer.from('a disk of text and random bytes '.repeat(40000));
    const input = Buffer.concat([text, randomBytes(MiB), text]);
    const outputs = await Promise.all([0, 1, 2, 3].map(() => compressChunk(Buffer.from(input))));
    for (const out of outputs) expect(out.equals(outputs[0]!)).toBe(true);
    expect(outputs[0]!.length).toBeLessThan(input.length);
    expect((await decompressChunk(outputs[0]!, input.length)).equals(input)).toBe(true);
  });

  it('refuses a chunk that decompresses past its recorded length', async () => {
    const out = await compressChunk(Buffer.alloc(2 * MiB, 7));
    await expect(decompressChunk(out, MiB)).rejects.toThrow();
  });
});

describe('fixedChunks', () => {
  it('cuts a disk into chunk-sized copies whatever the source pieces, the last one shorter', async () => {
    const data = randomBytes(3 * MiB + 12345);
    const chunks: Buffer[] = [];
    for await (const c of fixedChunks({ size: data.length, body: pieces(data, 100_000) }, MiB))
      chunks.push(c);
    expect(chunks.map((c) => c.length)).toEqual([MiB, MiB, MiB, 12345]);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });
});

describe('chunkSizeFor', () => {
  it('keeps the asked size while the disk fits MAX_CHUNKS, doubles it beyond', () => {
    expect(chunkSizeFor(64 * MiB)).toBe(DEFAULT_CHUNK_SIZE);
    expect(chunkSizeFor(MAX_CHUNKS * 4 * MiB)).toBe(4 * MiB);
    expect(chunkSizeFor(MAX_CHUNKS * 4 * MiB + 1)).toBe(8 * MiB);
    expect(chunkSizeFor(100 * 1024 * MiB)).toBe(32 * MiB);
    expect(() => chunkSizeFor(MiB, 3 * MiB)).toThrow(/power of two/);
    expect(() => chunkSizeFor(2 * 1024 * 1024 * MiB)).toThrow(/256 MiB/);
  });
});

describe('the manifest', () => {
  const config = { mediaType: CHUNKED.config, digest: sha(Buffer.from('{}')), size: 2 };
  const chunk = (offset: number, length: number) => ({
    digest: sha(Buffer.from(`c${offset}`)),
    size: 10,
    offset,
    length,
    sha256: sha(Buffer.from(`u${offset}`)),
  });

  it('round-trips the chunks with their offset, length and sha256', () => {
    const chunks = [chunk(0, MiB), chunk(3 * MiB, MiB)];
    const manifest = chunkedManifest(config, chunks, { a: 'b' });
    const parsed = parseChunkedManifest(manifest.bytes, 'test');
    expect(parsed.chunks).toEqual(chunks);
    expect(JSON.parse(manifest.bytes.toString()).artifactType).toBe(CHUNKED.artifactType);
  });

  it('refuses overlapping chunks and other artifacts', () => {
    const overlapping = chunkedManifest(config, [chunk(0, 2 * MiB), chunk(MiB, MiB)], {});
    expect(() => parseChunkedManifest(overlapping.bytes, 'test')).toThrow(NotChunkedError);
    const other = Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers: [] }));
    expect(() => parseChunkedManifest(other, 'test')).toThrow(/not a chunked disk/);
  });
});
