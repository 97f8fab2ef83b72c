// What the phase functions work with: settings, caches, writers and the transfers.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Config } from '../../config.js';
import type { Clock, Logger, ObjectCache } from '../../kube/index.js';
import type { StorageLookup } from '../../kubevirt/storage.js';
import type { RegistryClient } from '../../registry/index.js';
import type { ChildObjects } from './children.js';
import type { RegistryBackoff } from './registry-backoff.js';
import type { TransferManager } from './transfer-manager.js';
import type { ServerImageObject } from './types.js';

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
  transfers: TransferManager;
  /** Shared per registry host: images waiting for a failing registry back off together. */
  registryBackoff: RegistryBackoff;
  storage: StorageLookup;
  registryFor(si: ServerImageObject, options?: RegistryForOptions): Promise<RegistryClient>;
  /** Reads a VirtualMachineSnapshotContent (get only: never listed or watched). */
  readSnapshotContent(namespace: string, name: string): Promise<unknown>;
  /** Removes the recorded upload session (annotation) once it is cancelled for sure. */
  forgetUploadSession(key: string): Promise<void>;
}

export interface RegistryForOptions {
  /** Default spec.registry.repository. */
  repository?: string;
  /** One try per request, no inner retries: the caller retries with its own backoff. */
  probe?: boolean;
}
