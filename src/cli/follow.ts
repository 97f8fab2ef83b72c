// Follows one ServerImage by WATCH, not by polling: read it once, then watch from that
// resourceVersion with a name field selector. A watch ends now and then (the server's
// timeoutSeconds, client-node's 30 s inactivity abort, a dropped connection); it is
// reopened from the last resourceVersion seen (bookmarks included), so no change is
// missed and none is seen twice. Only when the server says that version is gone (410)
// is the object read again.
import { describeClientError } from '../kube/client-error.js';
import { ApiException, Watch } from '@kubernetes/client-node';
import { isNotFoundError } from './api-error.js';
import { ServerImageClient, type StoredServerImage } from './server-image-client.js';

export interface FollowOptions {
  namespace: string;
  name: string;
  signal?: AbortSignal;
  /** Server-side lifetime of one watch request; below client-node's 30 s inactivity abort. */
  watchTimeoutSeconds?: number;
  /** Pause before reopening a watch that failed (not one that simply ended). */
  retryDelayMs?: number;
  /** Told each time a watch is reopened, with why it ended. */
  onReconnect?(why: string): void;
}

/** Return true from onObject to stop following. */
export type ObjectHandler = (image: StoredServerImage) => boolean | void;

export type FollowEnd = 'stopped' | 'gone' | 'aborted';

type WatchEnd =
  { kind: 'stopped' | 'gone' | 'aborted' } | { kind: 'expired' } | { kind: 'ended'; error?: unknown };

const isTransient = (err: unknown) =>
  !(err instanceof ApiException) || err.code >= 500 || err.code === 429 || err.code === 410;

const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

export async function followServerImage(
  client: ServerImageClient,
  options: FollowOptions,
  onObject: ObjectHandler,
): Promise<FollowEnd> {
  const { namespace, name, signal } = options;
  let resourceVersion: string | undefined;
  while (!signal?.aborted) {
    if (resourceVersion === undefined) {
      try {
        const image = await client.get(namespace, name);
        resourceVersion = image.metadata.resourceVersion;
        if (onObject(image)) return 'stopped';
      } catch (err) {
        if (isNotFoundError(err)) return 'gone';
        if (!isTransient(err)) throw err;
        options.onReconnect?.(`read failed: ${describeClientError(err)}`);
        await pause(options.retryDelayMs ?? 1000, signal);
        continue;
      }
    }
    const end = await watchOnce(client, options, resourceVersion, onObject, (rv) => (resourceVersion = rv));
    if (end.kind !== 'ended' && end.kind !== 'expired') return end.kind;
    if (end.kind === 'expired') {
      resourceVersion = undefined;
      options.onReconnect?.('resourceVersion expired (410)');
      continue;
    }
    const failed = end.error && (end.error as Error).name !== 'TimeoutError';
    options.onReconnect?.(end.error ? `watch ended: ${describeClientError(end.error)}` : 'watch ended');
    if (failed) await pause(options.retryDelayMs ?? 1000, signal);
  }
  return 'aborted';
}

function watchOnce(
  client: ServerImageClient,
  options: FollowOptions,
  resourceVersion: string | undefined,
  onObject: ObjectHandler,
  seen: (resourceVersion: string) => void,
): Promise<WatchEnd> {
  return new Promise<WatchEnd>((resolve, reject) => {
    // An abort while the object was being read has already fired: no event will come.
    if (options.signal?.aborted) return resolve({ kind: 'aborted' });
    let settled = false;
    let request: AbortController | undefined;
    const finish = (end: WatchEnd) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      request?.abort();
      resolve(end);
    };
    const onAbort = () => finish({ kind: 'aborted' });
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const onEvent = (type: string, object: StoredServerImage & { code?: number }) => {
      if (settled) return;
      if (type === 'ERROR') {
        // A metav1.Status: 410 Gone means our resourceVersion is older than etcd keeps.
        finish(
          object.code === 410
            ? { kind: 'expired' }
            : { kind: 'ended', error: new Error(JSON.stringify(object)) },
        );
        return;
      }
      const rv = object.metadata?.resourceVersion;
      if (rv) seen(rv);
      if (type === 'DELETED') finish({ kind: 'gone' });
      else if ((type === 'ADDED' || type === 'MODIFIED') && onObject(object)) finish({ kind: 'stopped' });
    };

    new Watch(client.kubeConfig)
      .watch(
        ServerImageClient.collectionPath(options.namespace),
        {
          fieldSelector: `metadata.name=${options.name}`,
          resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: options.watchTimeoutSeconds ?? 25,
        },
        onEvent,
        (error: unknown) => finish({ kind: 'ended', error }),
      )
      .then((controller) => {
        request = controller;
        if (settled) controller.abort();
      }, reject);
  });
}
