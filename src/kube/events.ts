// Events on our objects, so `kubectl describe serverimage x` tells the story.
// core/v1 Events: that is what kubectl describe lists for any object, custom resources
// included (it searches core/v1 events by involvedObject name/namespace/kind/uid); an
// events.k8s.io/v1 Event is the same stored object seen through another API.
// Like client-go's record.EventCorrelator, a repeat of the same type+reason+message on
// the same object within `aggregateWindowMs` bumps count and lastTimestamp of the
// existing Event instead of creating a new one, so a retry loop cannot flood etcd.
// Recording is best effort: it never throws into the reconcile; failures go to onError.
import {
  type CoreV1Api,
  type CoreV1Event,
  type KubernetesObject,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { type Clock, systemClock } from './clock.js';
import { isNotFound } from './errors.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  /** source.component / reportingComponent, e.g. "serverimage-operator". */
  component: string;
  /** source.host / reportingInstance, e.g. the pod name. */
  instance?: string;
  /** Same event within this window is aggregated; default 10 minutes. */
  aggregateWindowMs?: number;
  /** How many distinct events to remember for aggregation; default 4096 (client-go's LRU size). */
  maxRemembered?: number;
  clock?: Clock;
  onError?(err: unknown, event: { reason: string; message: string }): void;
}

interface Remembered {
  namespace: string;
  name: string;
  count: number;
  lastSeen: number;
}

const MAX_MESSAGE = 1024;

export class EventRecorder {
  private readonly api: CoreV1Api;
  private readonly options: EventRecorderOptions;
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly maxRemembered: number;
  private readonly remembered = new Map<string, Remembered>();
  /** One write at a time per aggregation key, so two repeats cannot both create. */
  private readonly chains = new Map<string, Promise<void>>();
  private sequence = 0;

  constructor(api: CoreV1Api, options: EventRecorderOptions) {
    this.api = api;
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.windowMs = options.aggregateWindowMs ?? 10 * 60 * 1000;
    this.maxRemembered = options.maxRemembered ?? 4096;
  }

  normal(obj: KubernetesObject, reason: string, message: string): Promise<void> {
    return this.event(obj, 'Normal', reason, message);
  }

  warning(obj: KubernetesObject, reason: string, message: string): Promise<void> {
    return this.event(obj, 'Warning', reason, message);
  }

  /** Records an event on `obj`; resolves when written (or failed and reported). Never rejects. */
  event(obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const key = [
      obj.metadata?.uid ?? '',
      obj.kind,
      obj.metadata?.namespace,
      obj.metadata?.name,
      type,
      reason,
      text,
    ].join('\u0000');
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => this.write(key, obj, type, reason, text))
      .catch((err: unknown) => this.options.onError?.(err, { reason, message: text }));
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
    return next;
  }

  private async write(key: string, obj: KubernetesObject, type: EventType, reason: string, message: string) {
    const now = this.clock.now();
    const seen = this.remembered.get(key);
    if (seen && now - seen.lastSeen < this.windowMs) {
      try {
        await this.api.patchNamespacedEvent(
          {
            namespace: seen.namespace,
            name: seen.name,
            body: { count: seen.count + 1, lastTimestamp: new Date(now).toISOString() },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        seen.count += 1;
        seen.lastSeen = now;
        this.remember(key, seen);
        return;
      } catch (err) {
        // The Event expired (1 h TTL by default) or was deleted: start a new one.
        if (!isNotFound(err)) throw err;
      }
    }
    const created = await this.api.createNamespacedEvent({
      namespace: obj.metadata?.namespace || 'default',
      body: this.newEvent(obj, type, reason, message, now),
    });
    this.remember(key, {
      namespace: created.metadata?.namespace ?? 'default',
      name: created.metadata?.name ?? '',
      count: 1,
      lastSeen: now,
    });
  }

  private newEvent(
    obj: KubernetesObject,
    type: EventType,
    reason: string,
    message: string,
    now: number,
  ): CoreV1Event {
    const name = obj.metadata?.name ?? 'unknown';
    // client-go names events "<object>.<unix nanos in hex>"; the sequence keeps two
    // events in the same millisecond apart.
    const nanos = BigInt(now) * 1_000_000n + BigInt(this.sequence++ % 1_000_000);
    const at = new Date(now);
    return {
      metadata: { name: `${name}.${nanos.toString(16)}`, namespace: obj.metadata?.namespace || 'default' },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name,
        namespace: obj.metadata?.namespace,
        uid: obj.metadata?.uid,
        resourceVersion: obj.metadata?.resourceVersion,
      },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: at,
      lastTimestamp: at,
      source: { component: this.options.component, host: this.options.instance },
      reportingComponent: this.options.component,
      reportingInstance: this.options.instance ?? '',
    };
  }

  private remember(key: string, entry: Remembered): void {
    // Map keeps insertion order: re-inserting makes it the newest, the first is the oldest.
    this.remembered.delete(key);
    this.remembered.set(key, entry);
    if (this.remembered.size > this.maxRemembered) {
      const oldest = this.remembered.keys().next().value;
      if (oldest !== undefined) this.remembered.delete(oldest);
    }
  }
}
