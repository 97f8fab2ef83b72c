// The push step of Saving: start the transfer of the volumes not yet pushed, watch it,
// and retry what can be retried (registry or export server unavailable, Nova's 503)
// with exponential backoff until the retry deadline; anything else is terminal.
import type { ExportView } from '../../kubevirt/export.js';
import type { Deps, PhaseResult } from './deps.js';
import { formatDuration } from './durations.js';
import { ConditionType, Reason } from './reasons.js';
import type { Scope } from './scope.js';
import type { TransferPlan } from './transfers.js';
import { UPLOAD_SESSION_ANNOTATION, baseTag, toDate } from './types.js';
import { volumeTag, type SelectedVolume } from './volume-selection.js';

const FIRST_RETRY_MS = 2000;
const MAX_RETRY_MS = 5 * 60_000;

interface Failure {
  reason: string;
  retryable: boolean;
  message: string;
}

/** Data path and registry errors carry a reason and whether a retry can help; the rest is retried. */
export function describeFailure(error: unknown): Failure {
  const e = error as { reason?: unknown; retryable?: unknown; message?: unknown };
  if (typeof e?.reason === 'string' && typeof e.retryable === 'boolean') {
    return { reason: e.reason, retryable: e.retryable, message: String(e.message) };
  }
  return {
    reason: 'TransferFailed',
    retryable: true,
    message: error instanceof Error ? error.message : String(error),
  };
}

const retryDelay = (attempts: number) => Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempts - 1));

export async function reconcileTransfer(
  scope: Scope,
  deps: Deps,
  volumes: SelectedVolume[],
  exported: ExportView,
): Promise<PhaseResult> {
  const key = scope.key;
  const state = deps.transfers.state(key);
  if (state?.state === 'running') return;
  if (state?.state === 'succeeded') {
    // Its images reach us through the ServerImage's own update event.
    deps.transfers.forget(key);
    return;
  }
  if (state?.state === 'failed') {
    deps.transfers.forget(key);
    const failure = describeFailure(state.error);
    const failures = deps.transfers.failuresOf(key);
    const failingFor = failures ? Date.now() - failures.since : 0;
    if (!failure.retryable || failingFor >= deps.config.registryRetryTimeout) {
      const tail = failure.retryable ? `; gave up after ${formatDuration(failingFor)}` : '';
      scope.fail(ConditionType.Pushed, failure.reason, failure.message + tail);
      return;
    }
  }
  const failures = deps.transfers.failuresOf(key);
  if (failures) {
    const retryAt = failures.last + retryDelay(failures.count);
    if (Date.now() < retryAt) {
      const failure = describeFailure(failures.error);
      const next = `attempt ${failures.count + 1} in ${formatDuration(retryAt - Date.now())}`;
      scope.wait(ConditionType.Pushed, Reason.Retrying, `${failure.reason}: ${failure.message}; ${next}`);
      return { requeueAfter: retryAt - Date.now() };
    }
  }

  const plan = await transferPlan(scope, deps, volumes, exported);
  if (typeof plan === 'string') {
    scope.fail(ConditionType.Exported, Reason.ExportIncomplete, plan);
    return;
  }
  if (!deps.transfers.tryStart(key, plan)) {
    scope.wait(
      ConditionType.Pushed,
      Reason.WaitingForExportSlot,
      `Waiting for a free transfer slot (${deps.config.maxConcurrentExports} at once)`,
    );
    return;
  }
  const list = plan.volumes.map((v) => v.volume).join(', ');
  scope.wait(
    ConditionType.Pushed,
    Reason.Pushing,
    `Pushing ${list} to ${scope.object.spec.registry.repository}`,
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
    created: toDate(scope.status.startTime) ?? scope.now,
    // Objects stored before spec.format existed get its defaults from the API server.
    format: si.spec.format ?? { compression: 'gzip', disk: 'raw' },
    staleUploadSession: si.metadata.annotations?.[UPLOAD_SESSION_ANNOTATION],
  };
}
