// Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules:
// - a candidate tries every retryPeriod (jittered, x1.0-2.2) to take the Lease; it may
//   when the Lease is free (no holder, or released) or when it has not seen the record
//   change for leaseDuration, measured on ITS OWN clock from when it last saw a change
//   (never by comparing renewTime with local time, so clock skew does not matter);
// - every write is an update with the read resourceVersion (409 = someone else won);
// - the leader renews every retryPeriod; if it cannot renew within renewDeadline it has
//   lost: the AbortSignal given to onStartedLeading aborts at once, then onStoppedLeading
//   runs. Seeing another holder while leading also ends leadership at once;
// - leaseDuration > renewDeadline > 1.2 x retryPeriod; defaults 15 s / 10 s / 2 s;
// - on a requested stop the leader releases the Lease (no holder, 1 s duration) so a
//   standby takes over without waiting for expiry.
import { describeClientError } from './client-error.js';
import {
  CoordinationV1Api,
  type KubeConfig,
  type V1Lease,
  type V1LeaseSpec,
  V1MicroTime,
} from '@kubernetes/client-node';
import { type Clock, sleep, systemClock } from './clock.js';
import { isConflict, isNotFound } from './errors.js';
import { type Logger, silentLogger } from './logger.js';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  /** Where the Lease lives, and its name (e.g. "serverimage-operator"). */
  namespace: string;
  name: string;
  /** Unique per process, e.g. pod name + random suffix. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Release the Lease when run()'s signal aborts; default true. */
  releaseOnCancel?: boolean;
  /** Called once leadership is won; `signal` aborts the moment it is lost. */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  onStoppedLeading?(): void;
  /** Called when the observed holder changes (including to ourselves). */
  onNewLeader?(identity: string): void;
  clock?: Clock;
  logger?: Logger;
}

const JITTER_FACTOR = 1.2;

type Attempt = 'acquired' | 'held-by-other' | 'failed';

export class LeaseLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaseLostError';
  }
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly options: LeaderElectionOptions;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private observedRecord: V1LeaseSpec | undefined;
  private observedKey = '';
  private observedTime = 0;
  private observedResourceVersion: string | undefined;
  private leading = false;

  constructor(options: LeaderElectionOptions) {
    this.options = options;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (this.leaseDurationMs <= this.renewDeadlineMs)
      throw new Error('leaseDuration must be greater than renewDeadline');
    if (this.renewDeadlineMs <= JITTER_FACTOR * this.retryPeriodMs)
      throw new Error('renewDeadline must be greater than retryPeriod*1.2');
    if (this.retryPeriodMs < 1) throw new Error('retryPeriod must be positive');
    if (!options.identity) throw new Error('identity must not be empty');
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder we last saw on the Lease ('' when free). */
  leader(): string | undefined {
    return this.observedRecord?.holderIdentity;
  }

  /**
   * Campaigns until leader, leads until the Lease is lost or `signal` aborts, and
   * resolves then. To campaign again, call run() again (or exit, as controller-runtime does).
   */
  async run(signal?: AbortSignal): Promise<void> {
    if (!(await this.acquire(signal))) return;
    const leadership = new AbortController();
    this.leading = true;
    this.logger.info({ lease: this.options.name, identity: this.options.identity }, 'became leader');
    try {
      void Promise.resolve()
        .then(() => this.options.onStartedLeading(leadership.signal))
        .catch((err: unknown) =>
          this.logger.error({ error: describeClientError(err) }, 'onStartedLeading failed'),
        );
      const lost = await this.renewUntilLost(signal);
      leadership.abort(lost ?? new LeaseLostError('leader election stopped'));
    } finally {
      this.leading = false;
      if (!leadership.signal.aborted) leadership.abort(new LeaseLostError('leader election ended'));
      this.logger.info({ lease: this.options.name, identity: this.options.identity }, 'stopped leading');
      this.options.onStoppedLeading?.();
    }
    if (signal?.aborted && (this.options.releaseOnCancel ?? true)) await this.release();
  }

  private async acquire(signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal?.aborted) return false;
      if ((await this.tryAcquireOrRenew()) === 'acquired') return true;
      const jittered = this.retryPeriodMs * (1 + Math.random() * JITTER_FACTOR);
      if (!(await this.pause(jittered, signal))) return false;
    }
  }

  /** Resolves with the reason leadership was lost, or undefined when `signal` aborted. */
  private async renewUntilLost(signal?: AbortSignal): Promise<LeaseLostError | undefined> {
    for (;;) {
      if (!(await this.pause(this.retryPeriodMs, signal))) return undefined;
      const deadline = this.clock.now() + this.renewDeadlineMs;
      for (;;) {
        const attempt = await this.withDeadline(this.tryAcquireOrRenew(), deadline);
        if (signal?.aborted) return undefined;
        if (attempt === 'acquired') break;
        if (attempt === 'held-by-other')
          return new LeaseLostError(`lease taken by ${this.observedRecord?.holderIdentity}`);
        const left = deadline - this.clock.now();
        if (left <= 0) return new LeaseLostError(`could not renew within ${this.renewDeadlineMs} ms`);
        if (!(await this.pause(Math.min(this.retryPeriodMs, left), signal))) return undefined;
      }
    }
  }

  private async tryAcquireOrRenew(): Promise<Attempt> {
    const now = this.clock.now();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({
        name: this.options.name,
        namespace: this.options.namespace,
      });
    } catch (err) {
      if (!isNotFound(err)) return this.failed(err, 'read');
      return this.create(now);
    }
    const record = lease.spec ?? {};
    this.observe(record, lease.metadata?.resourceVersion, now);
    const holder = record.holderIdentity ?? '';
    const durationMs = (record.leaseDurationSeconds ?? this.leaseDurationMs / 1000) * 1000;
    if (holder !== '' && holder !== this.options.identity && this.observedTime + durationMs > now)
      return 'held-by-other';
    const mine = holder === this.options.identity;
    const spec: V1LeaseSpec = {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: this.leaseSeconds(),
      acquireTime: mine && record.acquireTime ? record.acquireTime : micro(now),
      renewTime: micro(now),
      leaseTransitions: mine ? (record.leaseTransitions ?? 0) : (record.leaseTransitions ?? 0) + 1,
    };
    try {
      const updated = await this.api.replaceNamespacedLease({
        name: this.options.name,
        namespace: this.options.namespace,
        body: { ...lease, spec },
      });
      this.observe(updated.spec ?? spec, updated.metadata?.resourceVersion, now);
      return 'acquired';
    } catch (err) {
      return this.failed(err, 'update');
    }
  }

  private async create(now: number): Promise<Attempt> {
    const spec: V1LeaseSpec = {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: this.leaseSeconds(),
      acquireTime: micro(now),
      renewTime: micro(now),
      leaseTransitions: 0,
    };
    try {
      const created = await this.api.createNamespacedLease({
        namespace: this.options.namespace,
        body: { metadata: { name: this.options.name, namespace: this.options.namespace }, spec },
      });
      this.observe(created.spec ?? spec, created.metadata?.resourceVersion, now);
      return 'acquired';
    } catch (err) {
      return this.failed(err, 'create');
    }
  }

  /** Gives the Lease up so a standby need not wait for it to expire. */
  private async release(): Promise<void> {
    if (this.observedRecord?.holderIdentity !== this.options.identity) return;
    const now = this.clock.now();
    try {
      await this.api.replaceNamespacedLease({
        name: this.options.name,
        namespace: this.options.namespace,
        body: {
          metadata: {
            name: this.options.name,
            namespace: this.options.namespace,
            resourceVersion: this.observedResourceVersion,
          },
          spec: {
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: micro(now),
            renewTime: micro(now),
            leaseTransitions: this.observedRecord.leaseTransitions ?? 0,
          },
        },
      });
    } catch (err) {
      this.logger.warn(
        { error: describeClientError(err), lease: this.options.name },
        'could not release the lease',
      );
    }
  }

  private observe(record: V1LeaseSpec, resourceVersion: string | undefined, now: number): void {
    // renewTime comes back as a string (V1MicroTime is not in the deserializer's map).
    const key = JSON.stringify([
      record.holderIdentity ?? '',
      String(record.renewTime ?? ''),
      String(record.acquireTime ?? ''),
      record.leaseTransitions ?? 0,
      record.leaseDurationSeconds ?? 0,
    ]);
    this.observedResourceVersion = resourceVersion;
    if (key === this.observedKey) return;
    const previousHolder = this.observedRecord?.holderIdentity;
    this.observedKey = key;
    this.observedRecord = record;
    this.observedTime = now;
    if (record.holderIdentity && record.holderIdentity !== previousHolder)
      this.options.onNewLeader?.(record.holderIdentity);
  }

  private failed(err: unknown, what: string): Attempt {
    if (!isConflict(err))
      this.logger.warn({ error: describeClientError(err), lease: this.options.name }, `lease ${what} failed`);
    return 'failed';
  }

  private leaseSeconds(): number {
    return Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
  }

  /** A hung API call must not keep a leader past its renew deadline. */
  private async withDeadline(attempt: Promise<Attempt>, deadline: number): Promise<Attempt> {
    let cancel = () => {};
    const timeout = new Promise<Attempt>((resolve) => {
      const timer = this.clock.setTimer(() => resolve('failed'), deadline - this.clock.now());
      cancel = () => timer.cancel();
    });
    try {
      return await Promise.race([attempt, timeout]);
    } finally {
      cancel();
    }
  }

  /** Sleeps; false when `signal` aborted. */
  private async pause(ms: number, signal?: AbortSignal): Promise<boolean> {
    try {
      await sleep(this.clock, ms, signal);
      return true;
    } catch {
      return false;
    }
  }
}

function micro(ms: number): V1MicroTime {
  return new V1MicroTime(ms);
}
