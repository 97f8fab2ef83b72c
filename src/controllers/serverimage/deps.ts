// What the phase functions work with: settings, caches, writers and the transfers.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Config } from '../../config.js';
import type { Logger, ObjectCache } from '../../kube/index.js';
import type { RegistryClient } from '../../registry/index.js';
import type { ChildObjects } from './children.js';
import type { TransferManager } from './transfers.js';
import type { ServerImageObject } from './types.js';

export interface Deps {
  config: Config;
  logger: Logger;
  serverImages: ObjectCache<ServerImageObject>;
  vms: ObjectCache<KubernetesObject>;
  snapshots: ObjectCache<KubernetesObject>;
  exports: ObjectCache<KubernetesObject>;
  children: ChildObjects;
  transfers: TransferManager;
  registryFor(si: ServerImageObject, repository?: string): Promise<RegistryClient>;
}

/** What a phase asks of the controller: come back after a delay, or at once. */
export type PhaseResult = { requeueAfter?: number; requeue?: boolean } | void;
