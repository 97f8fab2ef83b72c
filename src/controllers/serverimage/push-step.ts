// The push step of Saving: start the transfer of the volumes not yet pushed, watch it,
// and retry what can be retried (registry or export server unavailable, Nova's 503)
// with exponential backoff until the retry deadline; anything else is terminal. The
// budget (since when, how many attempts) is status.retry, so a restart continues it; a
// failing registry host backs off for every image that pushes there, not image by image.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ExportView } from '../../kubevirt/export.js';
import { instancetypeHints } from '../../kubevirt/vm-definition.js';
import type { ReconcileResult } from '../../kube/index.js';
import type { Deps } from './deps.js';
import { formatDuration } from './durations.js';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';
import { previousChunkedBackups } from './previous-backups.js';
import { registryHostOf } from './registry-host.js';
import { clearRetry, untilNextAttempt, waitingFor } from './retry-budget.js';
import { describeFailure, retryOrGiveUp, type Failure } from './retry-or-give-up.js';
import type { Scope } from './scope.js';
import type { TransferPlan } from './transfer-manager.js';
import { baseTag, toDate } from './types.js';
import { volumeTag, type SelectedVolume } from './volume-selection.js';
import { UPLOAD_SESSION_ANNOTATION } from '../../api/metadata-keys.js';

const STEP = ConditionType.Pushed;

/** Failures that say the registry itself is down: every image pushing there backs off. */
const isRegistryOutage = (f: Failure) => f.reason === 'RegistryUnavailable';

export async function pushStep(
  scope: Scope,
  deps: Deps,
  volumes: SelectedVolume[],
  exported: ExportView,
): Promise<ReconcileResult | void> {
  const key = scope.key;
  const host = registryHostOf(scope.object.spec.registry.repository);
  const state = deps.transfers.state(key);
  if (state?.state === 'running') return;
  if (state?.state === 'succeeded') {
    // Its images reach us through the ServerImage's own update event.
    deps.transfers.forget(key);
    deps.registryBackoff.succeeded(host);
    clearRetry(scope, STEP);
    return;
  }
  if (state?.state === 'failed') {
    deps.transfers.forget(key);
    const failure = describeFailure(state.error);
    const attempt = retryOrGiveUp(scope, STEP, failure, {
      deadlineMs: deps.config.registryRetryTimeout,
      sharedDelayMs: () => (isRegistryOutage(failure) ? deps.registryBackoff.failed(host) : 0),
      log: { message: 'transfer failed; retrying' },
    });
    if (!attempt) return;
  }
  const due = untilNextAttempt(scope, STEP);
  const own = scope.status.retry?.step === STEP;
  const left = own ? deps.config.registryRetryTimeout - waitingFor(scope, STEP) : Infinity;
  const shared = Math.min(deps.registryBackoff.waitFor(host, key), Math.max(0, left));
  if (due > 0 || shared > 0) {
    const retry = scope.status.retry;
    const why = retry?.lastError ?? `registry ${host} is failing for other images`;
    const next = `attempt ${(retry?.attempts ?? 0) + 1} in ${formatDuration(Math.max(due, shared))}`;
    scope.markWaiting(STEP, Reason.Retrying, `${why}; ${next}`);
    return { requeueAfter: Math.max(due, shared) };
  }

  const plan = await transferPlan(scope, deps, volumes, exported);
  if (typeof plan === 'string') {
    scope.fail(ConditionType.Exported, Reason.ExportIncomplete, plan);
    return;
  }
  if (!deps.transfers.tryStart(key, plan)) {
    scope.markWaiting(
      STEP,
      Reason.WaitingForExportSlot,
      `Waiting for a free transfer slot (${deps.config.maxConcurrentExports} at once)`,
    );
    return;
  }
  const list = plan.volumes.map((v) => v.volume).join(', ');
  const resumed = scope.status.retry?.step === STEP ? ` (attempt ${scope.status.retry.attempts + 1})` : '';
  scope.markWaiting(
    STEP,
    Reason.Pushing,
    `Pushing ${list} to ${scope.object.spec.registry.repository}${resumed}`,
  );
  return;
}

/** What to push, or why it cannot be: a message when the export lacks a volume or its CA. */
async function transferPlan(
  scope: Scope,
  deps: Deps,
  volumes: SelectedVolume[],
  exported: ExportView,
): Promise<TransferPlan | string> {
  const si = scope.object;
  const pushed = new Set((scope.status.images ?? []).map((i) => i.volume));
  const tag = baseTag(si);
  const plan: TransferPlan['volumes'] = [];
  for (const [index, volume] of volumes.entries()) {
    if (pushed.has(volume.name)) continue;
    // KubeVirt names an exported snapshot volume after the PVC it was taken from.
    const url = exported.rawUrls.get(volume.claimName);
    if (!url)
      return `VirtualMachineExport ${exported.name} has no raw link for volume ${volume.name} (PVC ${volume.claimName})`;
    plan.push({ volume: volume.name, tag: volumeTag(tag, index, volume.name), url });
  }
  if (!exported.caPem) return `VirtualMachineExport ${exported.name} has no CA certificate in its links`;
  return {
    volumes: plan,
    caPem: exported.caPem,
    token: await deps.children.exportToken(si),
    registry: () => deps.registryFor(si),
    imageName: si.spec.imageName ?? si.metadata.name,
    metadata: si.spec.metadata,
    sourceVm: {
      namespace: si.metadata.namespace,
      name: si.spec.serverRef.name,
      uid: scope.status.server?.uid ?? '',
    },
    configLabels: instancetypeHints(vmSpecOf(deps.vms.get(si.spec.serverRef.name, si.metadata.namespace))),
    created: toDate(scope.status.startTime) ?? scope.now,
    // Objects stored before spec.format existed get its defaults from the API server.
    format: si.spec.format ?? { compression: 'gzip', disk: 'raw', layout: 'containerDisk' },
    previousBackups:
      si.spec.format?.layout === 'chunked' ? previousChunkedBackups(si, deps.serverImages) : undefined,
    staleUploadSession: si.metadata.annotations?.[UPLOAD_SESSION_ANNOTATION],
    log: scope.log,
    onRegistryAnswered: () => deps.registryBackoff.succeeded(registryHostOf(si.spec.registry.repository)),
  };
}

const vmSpecOf = (vm: KubernetesObject | undefined): Record<string, unknown> =>
  (vm as { spec?: Record<string, unknown> } | undefined)?.spec ?? {};
