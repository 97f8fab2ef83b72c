// --wait: follow a ServerImage until it is done (Active or Error), or gone (after a
// delete), bounded by --timeout and by Ctrl-C. Neither of those stops the operator:
// the ServerImage goes on and `describe` shows it later.
import { followServerImage, type FollowOptions } from './follow.js';
import type { ServerImageClient, StoredServerImage } from './server-image-client.js';

export type WaitOutcome =
  | { kind: 'Active' | 'Error'; image: StoredServerImage }
  | { kind: 'gone' }
  | { kind: 'timeout' | 'interrupted'; image?: StoredServerImage };

export interface WaitOptions extends Pick<FollowOptions, 'namespace' | 'name' | 'watchTimeoutSeconds'> {
  /** 'done' waits for Active or Error; 'gone' for the object to be deleted. */
  until: 'done' | 'gone';
  timeoutMs: number;
  /** Ctrl-C. */
  interrupt?: AbortSignal;
  onChange?(image: StoredServerImage): void;
  onReconnect?(why: string): void;
}

export const isDone = (image: StoredServerImage) =>
  image.status?.phase === 'Active' || image.status?.phase === 'Error';

export async function waitFor(client: ServerImageClient, options: WaitOptions): Promise<WaitOutcome> {
  const stop = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stop.abort();
  }, options.timeoutMs);
  const onInterrupt = () => stop.abort();
  options.interrupt?.addEventListener('abort', onInterrupt, { once: true });
  if (options.interrupt?.aborted) stop.abort();

  let last: StoredServerImage | undefined;
  try {
    const end = await followServerImage(
      client,
      {
        namespace: options.namespace,
        name: options.name,
        signal: stop.signal,
        ...(options.watchTimeoutSeconds !== undefined
          ? { watchTimeoutSeconds: options.watchTimeoutSeconds }
          : {}),
        ...(options.onReconnect ? { onReconnect: options.onReconnect } : {}),
      },
      (image) => {
        last = image;
        options.onChange?.(image);
        return options.until === 'done' && isDone(image);
      },
    );
    if (end === 'gone') return { kind: 'gone' };
    if (end === 'stopped' && last) return { kind: last.status?.phase as 'Active' | 'Error', image: last };
    return { kind: timedOut ? 'timeout' : 'interrupted', ...(last ? { image: last } : {}) };
  } finally {
    clearTimeout(timer);
    options.interrupt?.removeEventListener('abort', onInterrupt);
  }
}
