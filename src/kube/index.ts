// The control-loop machinery, in one import for the reconcilers and main.ts.
export { ApiCallError, apiCall, apiServerMessage } from './api-call.js';
export { type DiscoveredResource, discoverResource, servedVersions } from './api-discovery.js';
export { type Clock, type Timer, sleep, systemClock } from './clock.js';
export {
  type Condition,
  type ConditionInput,
  type SetConditionResult,
  findCondition,
  isConditionTrue,
  metaTime,
  removeCondition,
  setCondition,
} from './conditions.js';
export { Controller, type ControllerOptions, type ReconcileResult, type Reconciler } from './controller.js';
export { apiStatusCode, isAlreadyExists, isConflict, isNotFound } from './errors.js';
export { EventRecorder, type EventRecorderOptions, type EventType } from './events.js';
export { addFinalizer, hasFinalizer, removeFinalizer } from './finalizers.js';
export { Informer, type InformerHandlers, type InformerOptions } from './informer.js';
export { InformerSet, type ObjectCache } from './informer-set.js';
export { type ObjectName, keyOf, objectKey, splitKey } from './keys.js';
export { LeaderElector, type LeaderElectionOptions, LeaseLostError } from './leader-election.js';
export { type Logger, silentLogger, withFields } from './logger.js';
export {
  type ReconcileMetrics,
  type ReconcileResultLabel,
  type WorkQueueMetrics,
  noopReconcileMetrics,
  noopWorkQueueMetrics,
} from './metrics.js';
export {
  type OwnerKind,
  controllerOf,
  controllerOwnerReference,
  enqueueOwner,
  enqueueSelf,
  isControlledBy,
  ownerKeyOf,
} from './owner.js';
export {
  DEFAULT_BASE_DELAY_MS,
  DEFAULT_MAX_DELAY_MS,
  ItemExponentialRateLimiter,
  type RateLimiter,
} from './rate-limiter.js';
export { type ResourceRef, apiVersionOf, collectionPath, groupOf } from './resource.js';
export { shareConnections } from './shared-connections.js';
export { type StatusPatchOptions, type StatusPatchTarget, changedFields, patchStatus } from './status.js';
export { WorkQueue, type WorkQueueOptions } from './work-queue.js';
export { withoutRuntimeHints } from './for-people.js';
