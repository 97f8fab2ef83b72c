// A shared informer for one kind, over client-node's makeInformer (list, then watch
// from the list's resourceVersion), adding what a controller needs and ListWatch lacks:
// - handlers get (old, new) on update, and a throwing handler cannot break the watch;
// - hasSynced()/waitForSync(): the first list is in the cache;
// - a cache with get by name and namespace, and list;
// - restart with exponential backoff when the list or watch fails. ListWatch itself
//   relists on 410 Gone and reconnects after a client-side inactivity timeout, but any
//   other error (connection refused or reset, 403, 500) stops it for good.
// resourceVersion stays opaque: it is only handed back to the server.
//
// client-node 2.0.0 aborted every watch 30 s after it started; 2.0.1 fixed it: the
// 30 s timer is an inactivity timer reset by every chunk, so a busy
// watch lives on, and a silent one reconnects from its resourceVersion (not a relist).
// test/integration/kube-informer-long-watch.test.ts checks this on a real API server.
import {
  CustomObjectsApi,
  KubernetesObjectApi,
  makeInformer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { type Clock, type Timer, systemClock } from './clock.js';
import { type Logger, silentLogger } from './logger.js';
import { keyOf, objectKey } from './keys.js';
import { type ResourceRef, apiVersionOf, collectionPath } from './resource.js';

export interface InformerHandlers<T extends KubernetesObject> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  kubeConfig: KubeConfig;
  resource: ResourceRef;
  /** Watch one namespace; default all namespaces. */
  namespace?: string;
  labelSelector?: string;
  /** Restart backoff after a failed list/watch: initial delay, doubling up to max. */
  restartBackoff?: { initialMs?: number; maxMs?: number };
  clock?: Clock;
  logger?: Logger;
}

type RawInformer<T extends KubernetesObject> = ReturnType<typeof makeInformer<T>>;

export class Informer<T extends KubernetesObject> {
  readonly resource: ResourceRef;
  private readonly inner: RawInformer<T>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly objects = new Map<string, T>();
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private backoffMs: number;
  private restartTimer: Timer | undefined;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private running = false;
  private restartCount = 0;
  private connectCount = 0;
  private lastError: unknown;

  constructor(options: InformerOptions) {
    this.resource = options.resource;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.initialBackoffMs = options.restartBackoff?.initialMs ?? 1000;
    this.maxBackoffMs = options.restartBackoff?.maxMs ?? 60_000;
    this.backoffMs = this.initialBackoffMs;
    const listAll = listFunction<T>(options);
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await listAll();
      this.listed();
      return result;
    };
    this.inner = makeInformer<T>(
      options.kubeConfig,
      collectionPath(options.resource, options.namespace),
      list,
      options.labelSelector,
    );
    this.inner.on('add', (obj) => this.applyUpsert(obj));
    this.inner.on('update', (obj) => this.applyUpsert(obj));
    this.inner.on('delete', (obj) => this.applyDelete(obj));
    this.inner.on('error', (err) => this.failed(err));
    this.inner.on('connect', () => this.connectCount++);
  }

  addHandlers(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
    // Late handlers see what is already known, like client-go's AddEventHandler.
    for (const obj of this.objects.values()) this.call(() => handlers.onAdd?.(obj));
  }

  /** Starts list+watch in the background; failures restart it with backoff. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.launch();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    await this.inner.stop();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list is in the cache. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      this.syncWaiters.push(resolve);
    });
  }

  /** client-node's order: name first, then namespace (none for a cluster-scoped object). */
  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(keyOf({ namespace, name }));
  }

  getByKey(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(namespace?: string): T[] {
    const all = [...this.objects.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  /** Times the list/watch was restarted after an error. */
  restarts(): number {
    return this.restartCount;
  }

  /** Times a watch request was opened (1 while one long watch lives on). */
  connections(): number {
    return this.connectCount;
  }

  lastFailure(): unknown {
    return this.lastError;
  }

  private launch(): void {
    this.inner.start().catch((err: unknown) => this.failed(err));
  }

  private listed(): void {
    this.backoffMs = this.initialBackoffMs;
    if (this.synced) return;
    // ListWatch fills its cache and calls our add handlers synchronously right after
    // this list resolves; a macrotask later they have all run.
    setImmediate(() => {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    });
  }

  private failed(err: unknown): void {
    this.lastError = err;
    if (!this.running) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.logger.warn(
      { kind: this.resource.kind, err, restartInMs: delay },
      'list/watch failed; restarting with backoff',
    );
    this.restartTimer?.cancel();
    this.restartTimer = this.clock.setTimer(() => {
      this.restartTimer = undefined;
      if (!this.running) return;
      this.restartCount++;
      this.launch();
    }, delay);
  }

  private applyUpsert(obj: T): void {
    // Any event means the watch works again.
    this.backoffMs = this.initialBackoffMs;
    const key = objectKey(obj);
    const old = this.objects.get(key);
    this.objects.set(key, obj);
    for (const h of this.handlers) {
      if (old) this.call(() => h.onUpdate?.(old, obj));
      else this.call(() => h.onAdd?.(obj));
    }
  }

  private applyDelete(obj: T): void {
    const key = objectKey(obj);
    this.objects.delete(key);
    for (const h of this.handlers) this.call(() => h.onDelete?.(obj));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ kind: this.resource.kind, err }, 'informer handler threw');
    }
  }
}

/**
 * Lists by the plural we already know: custom objects need no discovery round trip (and
 * no race with discovery right after a CRD is established); core kinds go through
 * KubernetesObjectApi, which builds /api/v1 paths.
 */
function listFunction<T extends KubernetesObject>(
  options: InformerOptions,
): () => Promise<KubernetesListObject<T>> {
  const { resource, namespace, labelSelector } = options;
  if (resource.group === '') {
    const api = KubernetesObjectApi.makeApiClient(options.kubeConfig);
    return () =>
      api.list<T>(
        apiVersionOf(resource),
        resource.kind,
        namespace,
        undefined,
        undefined,
        undefined,
        undefined,
        labelSelector,
      );
  }
  const api = options.kubeConfig.makeApiClient(CustomObjectsApi);
  const common = { group: resource.group, version: resource.version, plural: resource.plural, labelSelector };
  return async () =>
    (namespace
      ? await api.listNamespacedCustomObject({ ...common, namespace })
      : await api.listClusterCustomObject(common)) as KubernetesListObject<T>;
}
