// Saving: snapshot the VM, export the snapshot, push each volume. Each step is looked
// up in the informer caches first, so a restarted operator resumes where it was.
import { isControlledBy } from '../../kube/index.js';
import { viewExport, type ExportView } from '../../kubevirt/export.js';
import { viewSnapshot } from '../../kubevirt/snapshot.js';
import { viewVirtualMachine } from '../../kubevirt/virtual-machine.js';
import { reconcileTransfer } from './transfer-step.js';
import type { Deps, PhaseResult } from './deps.js';
import { formatDuration } from './durations.js';
import { ConditionType, Reason } from './reasons.js';
import type { Scope } from './scope.js';
import { selectVolumes } from './volume-selection.js';
import { finishSaving } from './active.js';

/** Waits for a step within its deadline, measured from when the step's condition turned False. */
function waitStep(
  scope: Scope,
  condition: string,
  timeoutMs: number,
  failReason: string,
  waitReason: string,
  message: string,
): PhaseResult {
  const age = scope.conditionAge(condition);
  if (scope.condition(condition)?.status === 'False' && age >= timeoutMs) {
    scope.fail(condition, failReason, `${message}; gave up after ${formatDuration(age)}`);
    return;
  }
  scope.wait(condition, waitReason, message);
  return { requeueAfter: Math.max(1000, timeoutMs - age) };
}

export async function reconcileSaving(scope: Scope, deps: Deps): Promise<PhaseResult> {
  const si = scope.object;
  const { namespace } = si.metadata;
  const vmName = si.spec.serverRef.name;
  const names = deps.children.names(si);

  const vmObject = deps.vms.get(namespace, vmName);
  if (!vmObject || vmObject.metadata?.uid !== scope.status.server?.uid) {
    scope.fail(
      ConditionType.ServerReady,
      Reason.ServerDeleted,
      `VirtualMachine ${vmName} was deleted while its image was being saved`,
    );
    return;
  }

  // 1. The snapshot.
  const snapshotObject = deps.snapshots.get(namespace, names.snapshot);
  if (!snapshotObject) {
    await deps.children.createSnapshot(si);
    return waitStep(
      scope,
      ConditionType.Snapshotted,
      deps.config.snapshotTimeout,
      Reason.SnapshotTimeout,
      Reason.SnapshotInProgress,
      `Taking VirtualMachineSnapshot ${names.snapshot}`,
    );
  }
  if (!isControlledBy(snapshotObject, si)) {
    scope.fail(
      ConditionType.Snapshotted,
      Reason.SnapshotFailed,
      `VirtualMachineSnapshot ${names.snapshot} exists and belongs to something else`,
    );
    return;
  }
  const snapshot = viewSnapshot(snapshotObject);
  if (snapshot.failed) {
    scope.fail(
      ConditionType.Snapshotted,
      Reason.SnapshotFailed,
      `VirtualMachineSnapshot ${names.snapshot} failed: ${snapshot.errorMessage ?? 'no message'}`,
    );
    return;
  }
  if (!snapshot.readyToUse) {
    return waitStep(
      scope,
      ConditionType.Snapshotted,
      deps.config.snapshotTimeout,
      Reason.SnapshotTimeout,
      Reason.SnapshotInProgress,
      `VirtualMachineSnapshot ${names.snapshot} is ${snapshot.phase || 'starting'}`,
    );
  }
  if (scope.condition(ConditionType.Snapshotted)?.status !== 'True') {
    scope.status.snapshot = { name: names.snapshot, indications: snapshot.indications };
    const how = snapshot.indications.length > 0 ? snapshot.indications.join(', ') : 'offline';
    scope.setCondition(
      ConditionType.Snapshotted,
      'True',
      Reason.Succeeded,
      `VirtualMachineSnapshot ${names.snapshot} is ready (${how})`,
    );
    scope.event('Normal', 'Snapshotted', `VirtualMachineSnapshot ${names.snapshot} is ready (${how})`);
  }

  // 2. The export of the snapshot.
  const exportObject = deps.exports.get(namespace, names.export);
  if (!exportObject) {
    await deps.children.createExport(si);
    return waitStep(
      scope,
      ConditionType.Exported,
      deps.config.exportTimeout,
      Reason.ExportTimeout,
      Reason.ExportPending,
      `Exporting the snapshot as VirtualMachineExport ${names.export}`,
    );
  }
  const exported = viewExport(exportObject);
  if (!exported.ready) {
    const why = exported.notReadyReason
      ? `: ${exported.notReadyReason}${exported.notReadyMessage ? ` (${exported.notReadyMessage})` : ''}`
      : '';
    return waitStep(
      scope,
      ConditionType.Exported,
      deps.config.exportTimeout,
      Reason.ExportTimeout,
      Reason.ExportPending,
      `VirtualMachineExport ${names.export} is ${exported.phase || 'Pending'}${why}`,
    );
  }
  if (scope.condition(ConditionType.Exported)?.status !== 'True') {
    scope.setCondition(
      ConditionType.Exported,
      'True',
      Reason.Succeeded,
      `VirtualMachineExport ${names.export} is ready`,
    );
  }

  // 3. The transfers.
  const selection = selectVolumes(viewVirtualMachine(vmObject), si.spec.volumes);
  if (selection.kind !== 'selected') {
    scope.fail(ConditionType.ServerReady, Reason.UnsupportedVolume, selection.message);
    return;
  }
  const pushed = new Set((scope.status.images ?? []).map((i) => i.volume));
  if (selection.volumes.every((v) => pushed.has(v.name))) {
    deps.transfers.forget(scope.key);
    return finishSaving(scope, deps, viewVirtualMachine(vmObject));
  }
  return reconcileTransfer(scope, deps, selection.volumes, exported satisfies ExportView);
}
