// A bounded buffer between two stages of the data path. Pull-based async
// iteration runs one stage at a time: while the uploader waits for the registry,
// nobody would read the export or feed the compressor. readAhead keeps pulling
// from `source` in the background until `maxBytes` wait in the queue, so the
// stages overlap and memory stays bounded.

export async function* readAhead(source: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  const queue: Buffer[] = [];
  let queued = 0;
  let done = false;
  let failure: { error: unknown } | undefined;
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  let stopped = false;

  const producer = (async () => {
    try {
      while (!stopped) {
        if (queued >= maxBytes) {
          await new Promise<void>((resolve) => (wakeProducer = resolve));
          continue;
        }
        const next = await iterator.next();
        if (next.done) break;
        queue.push(next.value);
        queued += next.value.length;
        wakeConsumer?.();
      }
    } catch (error) {
      failure = { error };
    } finally {
      done = true;
      wakeConsumer?.();
    }
  })();

  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) {
        queued -= chunk.length;
        wakeProducer?.();
        yield chunk;
        continue;
      }
      if (failure) throw failure.error;
      if (done) return;
      await new Promise<void>((resolve) => (wakeConsumer = resolve));
      wakeConsumer = undefined;
    }
  } finally {
    // The consumer stopped early (error or break): stop pulling and let the
    // source clean up (close connections, cancel work).
    // Not awaited: the producer may be waiting on the network, and the
    // consumer's error should surface now, not when the next chunk arrives.
    stopped = true;
    wakeProducer?.();
    void producer.then(() => iterator.return?.()).catch(() => undefined);
  }
}
