// The whole-disk sha256 of a chunked push, on a thread of its own (disk-hasher.ts starts
// it): the disk's bytes arrive in order as views of shared buffers, are hashed as they
// come, and each is acknowledged so the push can reuse its buffer. Only node: imports,
// so Node runs this file as it is (types stripped) under tsx and jest.
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

/**
 * What the push posts: a shared buffer, once (posting one costs milliseconds, so each
 * is sent once and named by a number after), bytes of one to add, or the end.
 */
export type HashMessage =
  | { kind: 'buffer'; buffer: number; shared: SharedArrayBuffer }
  | { kind: 'update'; id: number; buffer: number; offset: number; length: number }
  | { kind: 'digest' };

/** What the worker posts back. */
export type HashReply = { kind: 'hashed'; id: number } | { kind: 'digest'; hex: string };

if (!parentPort) throw new Error('disk-hash-worker.ts runs as a worker thread (disk-hasher.ts)');
const port = parentPort;
const hash = createHash('sha256');
const buffers = new Map<number, SharedArrayBuffer>();

port.on('message', (message: HashMessage) => {
  if (message.kind === 'buffer') {
    buffers.set(message.buffer, message.shared);
  } else if (message.kind === 'update') {
    hash.update(new Uint8Array(buffers.get(message.buffer)!, message.offset, message.length));
    port.postMessage({ kind: 'hashed', id: message.id } satisfies HashReply);
  } else {
    port.postMessage({ kind: 'digest', hex: hash.digest('hex') } satisfies HashReply);
  }
});
