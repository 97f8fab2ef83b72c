// What the phase functions work with: settings, caches, writers and the transfer Pods.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Config } from '../../config.js';
import type { Clock, Logger, ObjectCache } from '../../kube/index.js';
import type { StorageLookup } from '../../kubevirt/storage.js';
import type { RegistryClient } from '../../registry/index.js';
import type { ChildObjects } from './children.js';
import type { RegistryBackoff } from './registry-backoff.js';
import type { TransferPods } from './transfer-pods.js';
import type { ProgressPoller } from './transfer-progress.js';
import type { PushedMetrics } from './transfer-result.js';
import type { Slots } from './slots.js';
import type { ServerImageObject } from './types.js';
import type { VerificationMetrics, VerificationVmis } from './verification.js';

export interface Deps {
  config: Config;
  /** Where a reconcile's `now` comes from. */
  clock: Clock;
  logger: Logger;
  serverImages: ObjectCache<ServerImageObject>;
  vms: ObjectCache<KubernetesObject>;
  snapshots: ObjectCache<KubernetesObject>;
  exports: ObjectCache<KubernetesObject>;
  children: ChildObjects;
  /** The transfer slots (--max-concurrent-exports), counted from the cluster. */
  slots: Slots;
  /** Each ServerImage's transfer Pods (the cache) and their creation and deletion. */
  transferPods: TransferPods;
  /** Reads running transfer Pods' progress onto their ServerImages. */
  progress: ProgressPoller;
  /** Bytes moved and seconds per volume, from the Pods' results. */
  metrics?: PushedMetrics;
  /** Shared per registry host: images waiting for a failing registry back off together. */
  registryBackoff: RegistryBackoff;
  /** The throw-away VMIs of spec.verify.boot; undefined: verification is not wired (unit tests). */
  verification?: VerificationVmis;
  /** Counts verification results. */
  verificationMetrics?: VerificationMetrics;
  storage: StorageLookup;
  registryFor(si: ServerImageObject, options?: RegistryForOptions): Promise<RegistryClient>;
  /** Reads a VirtualMachineSnapshotContent (get only: never listed or watched). */
  readSnapshotContent(namespace: string, name: string): Promise<unknown>;
  /** Records the open upload session's Location (annotation); undefined removes it once it is cancelled for sure. */
  recordUploadSession(key: string, location: string | undefined): Promise<void>;
}

export interface RegistryForOptions {
  /** Default spec.registry.repository. */
  repository?: string;
  /** One try per request, no inner retries: the caller retries with its own backoff. */
  probe?: boolean;
}
