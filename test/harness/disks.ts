// Deterministic disk images for the test bed. A disk is a seed and a size; its bytes
// are a repeating 4 MiB pattern of random bytes, text-like bytes and zeros (by
// default 1/4 random, 1/4 text, 1/2 zeros), so compression, hashing and sparse
// handling all see realistic data. Random bytes come from AES-256-CTR keyed by the
// seed (OpenSSL speed, identical on every machine); text bytes are the same
// keystream mapped onto a small alphabet. Everything streams in 1 MiB chunks:
// memory is constant and an 8 GiB disk takes seconds (zeros are holes, not writes).
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';

export interface DiskSpec {
  /** Bytes. */
  size: number;
  seed: string;
  /** Share of each 4 MiB block that is random bytes (default 0.25). */
  randomFraction?: number;
  /** Share of each 4 MiB block that is text-like bytes (default 0.25); the rest is zeros. */
  textFraction?: number;
}

export interface DiskFile {
  path: string;
  size: number;
  sha256: string;
}

const BLOCK = 4 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const ZEROS = Buffer.alloc(CHUNK);
// Lower-case words, spaces and newlines: compresses like prose (about 2.5-3x with gzip).
const TEXT_ALPHABET = Buffer.from('etaoinshrdlucmfwypvbgkqjxz      eeeeaaaattttoooonnnn\n\n..,,');

/** One piece of a disk: bytes to write, or a run of zeros to leave as a hole. */
type Piece = { kind: 'data'; bytes: Buffer } | { kind: 'zeros'; length: number };

function keystream(seed: string) {
  const key = createHash('sha256').update(`disk-key:${seed}`).digest();
  const iv = createHash('sha256').update(`disk-iv:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  return (length: number): Buffer => cipher.update(ZEROS.subarray(0, length));
}

// byte -> text byte, so mapping a chunk is one table load per byte.
const TEXT_TABLE = Uint8Array.from({ length: 256 }, (_, b) => TEXT_ALPHABET[b % TEXT_ALPHABET.length]!);

function toText(bytes: Buffer): Buffer {
  for (let i = 0; i < bytes.length; i++) bytes[i] = TEXT_TABLE[bytes[i]!]!;
  return bytes;
}

/** The disk's bytes, in order, as data pieces (at most 1 MiB) and zero runs. */
export function* diskPieces(spec: DiskSpec): Generator<Piece> {
  const randomLen = Math.round(BLOCK * (spec.randomFraction ?? 0.25));
  const textLen = Math.round(BLOCK * (spec.textFraction ?? 0.25));
  if (randomLen + textLen > BLOCK) throw new Error('randomFraction + textFraction must be <= 1');
  const next = keystream(spec.seed);
  let remaining = spec.size;
  while (remaining > 0) {
    const regions: Array<[kind: 'random' | 'text' | 'zeros', length: number]> = [
      ['random', randomLen],
      ['text', textLen],
      ['zeros', BLOCK - randomLen - textLen],
    ];
    for (const [kind, regionLen] of regions) {
      let left = Math.min(regionLen, remaining);
      remaining -= left;
      if (kind === 'zeros') {
        if (left > 0) yield { kind: 'zeros', length: left };
        continue;
      }
      while (left > 0) {
        const n = Math.min(CHUNK, left);
        const bytes = next(n);
        yield { kind: 'data', bytes: kind === 'text' ? toText(bytes) : bytes };
        left -= n;
      }
    }
  }
}

function hashZeros(hash: ReturnType<typeof createHash>, length: number): void {
  for (let left = length; left > 0; left -= CHUNK) hash.update(ZEROS.subarray(0, Math.min(CHUNK, left)));
}

/**
 * Writes the disk to `path` (through a temp file and a rename, so a reader or a
 * hard link to the previous file never sees a half-written disk) and returns its sha256.
 */
export async function writeDisk(path: string, spec: DiskSpec): Promise<DiskFile> {
  const temp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const hash = createHash('sha256');
  const file = await open(temp, 'w');
  try {
    let position = 0;
    for (const piece of diskPieces(spec)) {
      if (piece.kind === 'zeros') {
        hashZeros(hash, piece.length);
        position += piece.length;
      } else {
        hash.update(piece.bytes);
        await file.write(piece.bytes, 0, piece.bytes.length, position);
        position += piece.bytes.length;
      }
    }
    await file.truncate(spec.size);
  } catch (err) {
    await file.close();
    await rm(temp, { force: true });
    throw err;
  }
  await file.close();
  await rename(temp, path);
  return { path, size: spec.size, sha256: hash.digest('hex') };
}

/** The sha256 a disk made by writeDisk(spec) will have, without writing it. */
export function diskSha256(spec: DiskSpec): string {
  const hash = createHash('sha256');
  for (const piece of diskPieces(spec)) {
    if (piece.kind === 'zeros') hashZeros(hash, piece.length);
    else hash.update(piece.bytes);
  }
  return hash.digest('hex');
}

/** sha256 of a file, streamed. */
export async function sha256File(path: string, start?: number, end?: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { start, end, highWaterMark: CHUNK }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** Parses a Kubernetes quantity of bytes ("4Mi", "2Gi", "1048576"). */
export function parseByteQuantity(quantity: string | number): number {
  if (typeof quantity === 'number') return quantity;
  const match = /^(\d+)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(quantity.trim());
  if (!match) throw new Error(`not a byte quantity: ${quantity}`);
  return Number(match[1]) * UNITS[match[2] ?? '']!;
}
