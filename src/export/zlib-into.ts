// Compressors that write into the caller's buffer and keep their state (zlib's
// deflate state, zstd's context) from one call to the next.
//
// Why not zlib.gzipSync / zstdCompressSync: each call allocates a new compressor
// (deflate ~400 KiB, zstd level 3 a few MiB, malloc'd and freed) and a new output
// Buffer. The Buffers are memory outside V8's heap that V8 collects only once
// 64 MiB of it has piled up per isolate, and the worker's heap, holding a few
// small objects, gives it no other reason to collect: measured on a real file
// system, one thread encoding 1 MiB blocks went from 48 to 121 MiB RSS. With one
// compressor per thread writing into the block's own output buffer nothing is
// allocated per block.
//
// How: node:zlib's own synchronous path (lib/zlib.js processChunkSync) drives the
// stream's native handle with handle.writeSync(flush, in, inOff, inLen, out,
// outOff, outLen) and reads what is left of input and output from _writeState.
// Those two names are internal to Node; where they are missing (another Node),
// the compressor falls back to the *Sync functions and a copy (the old cost, the
// same bytes). test/unit/export/zlib-into.test.ts checks that the pinned Node
// takes the direct path and that the bytes equal zlib's own.
import { types } from 'node:util';
import zlib from 'node:zlib';

export interface IntoCompressor {
  /**
   * Compresses all of `input` as one gzip member, raw deflate stream or zstd frame,
   * written to `output` from `at`, using no byte at or past `end`. Returns the end
   * offset, or -1 when it does not fit (output from `at` is then garbage).
   */
  compress(input: Uint8Array, output: Uint8Array, at: number, end: number): number;
  /** Whether it writes straight into the output (false: the *Sync fallback). */
  readonly direct: boolean;
}

export type IntoFormat = 'gzip' | 'deflateRaw' | 'zstd';

export interface IntoOptions {
  /** zlib 1-9, zstd 1-19. */
  level: number;
  /** zlib only; default 8 (zlib's). */
  memLevel?: number;
  /** Use the *Sync fallback even where the direct path exists (tests). */
  fallback?: boolean;
}

/** What node:zlib's streams carry internally (lib/zlib.js): the native handle and its result slots. */
interface NativeHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    output: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  reset(): void;
  close(): void;
  onerror?: (message: string, errno: number) => void;
}
interface WithHandle {
  _handle?: NativeHandle;
  /** [output bytes left, input bytes left] after the last writeSync. */
  _writeState?: Uint32Array;
}

/**
 * zstd's output per writeSync call while a frame is written, as zstdCompressSync
 * uses (zlib's default chunk): given all the room at once, zstd 1.5 takes its
 * one-shot path, which came out 0.05-0.45% larger on a real disk's blocks.
 */
const ZSTD_STEP = zlib.constants.Z_DEFAULT_CHUNK;

export function createIntoCompressor(format: IntoFormat, options: IntoOptions): IntoCompressor {
  let native = options.fallback ? undefined : openNative(format, options);
  if (!native) return fallbackCompressor(format, options);
  /** zlib streams need a reset after Z_FINISH; zstd starts a new frame on its own once one has ended. */
  let needsReset = false;
  return {
    direct: true,
    compress(input, output, at, end) {
      const room = Math.min(end, output.length) - at;
      if (room <= 0) return -1;
      native ??= openNative(format, options)!;
      const { handle, state, check } = native;
      if (format !== 'zstd') {
        if (needsReset) handle.reset();
        needsReset = true;
        handle.writeSync(zlib.constants.Z_FINISH, input, 0, input.length, output, at, room);
        check();
        // Output left over means deflate reached the end of the stream (Z_STREAM_END).
        return state[1] === 0 && state[0]! > 0 ? at + room - state[0]! : -1;
      }
      let inOff = 0;
      let out = at;
      for (;;) {
        const step = Math.min(ZSTD_STEP, at + room - out);
        if (step <= 0) {
          // Mid-frame: this context cannot start a new frame cleanly; the next call opens another.
          handle.close();
          native = undefined;
          return -1;
        }
        handle.writeSync(zlib.constants.ZSTD_e_end, input, inOff, input.length - inOff, output, out, step);
        check();
        const outLeft = state[0]!;
        inOff = input.length - state[1]!;
        out += step - outLeft;
        // Room left in this step: zstd has flushed the whole frame.
        if (outLeft > 0) return out;
      }
    },
  };
}

interface Native {
  handle: NativeHandle;
  state: Uint32Array;
  /** Throws the error the handle reported during the last writeSync, if any. */
  check(): void;
}

/** The stream's native handle, or undefined where this Node does not have one as expected. */
function openNative(format: IntoFormat, options: IntoOptions): Native | undefined {
  const stream = newStream(format, options);
  // (isUint32Array, not instanceof: under jest this module runs in another realm than node:zlib.)
  const { _handle: handle, _writeState: state } = stream as unknown as WithHandle;
  if (typeof handle?.writeSync !== 'function' || !types.isUint32Array(state)) {
    stream.close();
    return undefined;
  }
  // Errors come to onerror synchronously, during writeSync (lib/zlib.js sets its own
  // handler, which would destroy the stream object; this one reports to the caller).
  let failure: string | undefined;
  handle.onerror = (message, errno) => {
    failure = `${format} compressor: ${message} (${errno})`;
  };
  const check = () => {
    if (failure === undefined) return;
    const message = failure;
    failure = undefined;
    throw new Error(message);
  };
  return { handle, state, check };
}

function newStream(format: IntoFormat, options: IntoOptions) {
  const zlibOptions = { level: options.level, memLevel: options.memLevel ?? 8 };
  if (format === 'gzip') return zlib.createGzip(zlibOptions);
  if (format === 'deflateRaw') return zlib.createDeflateRaw(zlibOptions);
  return zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: options.level } });
}

function fallbackCompressor(format: IntoFormat, options: IntoOptions): IntoCompressor {
  return {
    direct: false,
    compress(input, output, at, end) {
      const zlibOptions = {
        level: options.level,
        memLevel: options.memLevel ?? 8,
        chunkSize: input.length + 1024,
      };
      const bytes =
        format === 'gzip'
          ? zlib.gzipSync(input, zlibOptions)
          : format === 'deflateRaw'
            ? zlib.deflateRawSync(input, zlibOptions)
            : zlib.zstdCompressSync(input, {
                params: { [zlib.constants.ZSTD_c_compressionLevel]: options.level },
              });
      if (at + bytes.length > Math.min(end, output.length)) return -1;
      output.set(bytes, at);
      return at + bytes.length;
    },
  };
}
