// Saving: snapshot the VM, export the snapshot, push each volume. Each step is looked
// up in the informer caches first, so a restarted operator resumes where it was.
import { isControlledBy } from '../../kube/index.js';
import { viewExport, type ExportView } from '../../kubevirt/export.js';
import { viewSnapshot } from '../../kubevirt/snapshot.js';
import { viewVirtualMachine, type VirtualMachineView } from '../../kubevirt/virtual-machine.js';
import type { ReconcileResult } from '../../kube/index.js';
import type { Deps } from './deps.js';
import { formatDuration } from './durations.js';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';
import type { Scope } from './scope.js';
import { pushStep } from './push-step.js';
import { vmArtifactStep } from './vm-artifact-step.js';
import { selectVolumes } from './volume-selection.js';

/** A step is done (with what it made), or the phase stops here for now (waiting or failed). */
type Step<T> = { done: T } | { stop: ReconcileResult | void };

/** Waits for a step within its deadline, measured from when the step's condition turned False. */
function waitStep(
  scope: Scope,
  step: { condition: string; timeoutMs: number; failReason: string; waitReason: string },
  message: string,
): { stop: ReconcileResult | void } {
  const age = scope.conditionAge(step.condition);
  if (scope.condition(step.condition)?.status === 'False' && age >= step.timeoutMs) {
    scope.fail(step.condition, step.failReason, `${message}; gave up after ${formatDuration(age)}`);
    return { stop: undefined };
  }
  scope.markWaiting(step.condition, step.waitReason, message);
  return { stop: { requeueAfter: Math.max(1000, step.timeoutMs - age) } };
}

function fail(
  scope: Scope,
  condition: string,
  reason: string,
  message: string,
): { stop: ReconcileResult | void } {
  scope.fail(condition, reason, message);
  return { stop: undefined };
}

async function snapshotStep(scope: Scope, deps: Deps): Promise<Step<true>> {
  const si = scope.object;
  const name = deps.children.names(si).snapshot;
  const step = {
    condition: ConditionType.Snapshotted,
    timeoutMs: deps.config.snapshotTimeout,
    failReason: Reason.SnapshotTimeout,
    waitReason: Reason.SnapshotInProgress,
  };
  const object = deps.snapshots.get(name, si.metadata.namespace);
  if (!object) {
    await deps.children.createSnapshot(si);
    return waitStep(scope, step, `Taking VirtualMachineSnapshot ${name}`);
  }
  if (!isControlledBy(object, si)) {
    return fail(
      scope,
      step.condition,
      Reason.SnapshotFailed,
      `VirtualMachineSnapshot ${name} exists and belongs to something else`,
    );
  }
  const snapshot = viewSnapshot(object);
  if (snapshot.failed) {
    const why = snapshot.errorMessage ?? 'no message';
    return fail(
      scope,
      step.condition,
      Reason.SnapshotFailed,
      `VirtualMachineSnapshot ${name} failed: ${why}`,
    );
  }
  if (!snapshot.readyToUse) {
    // KubeVirt keeps a snapshot whose VolumeSnapshot errors InProgress until its own deadline,
    // with the error in status.error: say it while waiting and when giving up.
    // KubeVirt also says Succeeded once every VolumeSnapshot is cut, before the storage
    // reports them ready: only readyToUse means the bytes can be read.
    const why = snapshot.errorMessage ? `: ${snapshot.errorMessage}` : '';
    const state =
      snapshot.phase === 'Succeeded' ? 'Succeeded, not yet readyToUse' : snapshot.phase || 'starting';
    return waitStep(scope, step, `VirtualMachineSnapshot ${name} is ${state}${why}`);
  }
  if (scope.condition(step.condition)?.status !== 'True') {
    scope.status.snapshot = { name, indications: snapshot.indications };
    const how = snapshot.indications.length > 0 ? snapshot.indications.join(', ') : 'offline';
    const message = `VirtualMachineSnapshot ${name} is ready (${how})`;
    scope.setCondition(step.condition, 'True', Reason.Succeeded, message);
    scope.event('Normal', Reason.Snapshotted, message);
  }
  return { done: true };
}

async function exportStep(scope: Scope, deps: Deps): Promise<Step<ExportView>> {
  const si = scope.object;
  const name = deps.children.names(si).export;
  const step = {
    condition: ConditionType.Exported,
    timeoutMs: deps.config.exportTimeout,
    failReason: Reason.ExportTimeout,
    waitReason: Reason.ExportPending,
  };
  const object = deps.exports.get(name, si.metadata.namespace);
  if (!object) {
    await deps.children.createExport(si);
    return waitStep(scope, step, `Exporting the snapshot as VirtualMachineExport ${name}`);
  }
  const exported = viewExport(object);
  if (!exported.ready) {
    const detail = exported.notReadyMessage ? ` (${exported.notReadyMessage})` : '';
    const why = exported.notReadyReason ? `: ${exported.notReadyReason}${detail}` : '';
    return waitStep(scope, step, `VirtualMachineExport ${name} is ${exported.phase || 'Pending'}${why}`);
  }
  if (scope.condition(step.condition)?.status !== 'True') {
    scope.setCondition(step.condition, 'True', Reason.Succeeded, `VirtualMachineExport ${name} is ready`);
  }
  return { done: exported };
}

export async function reconcileSaving(scope: Scope, deps: Deps): Promise<ReconcileResult | void> {
  const si = scope.object;
  const vmName = si.spec.serverRef.name;
  const vmObject = deps.vms.get(vmName, si.metadata.namespace);
  const vm = vmObject && viewVirtualMachine(vmObject);
  // A VM being deleted counts as deleted: KubeVirt keeps one that our snapshot locked until
  // the snapshot is done or deleted (a snapshot in error: until its deadline), so waiting
  // would hold the user's deletion up; our purge deletes the snapshot, which lets it go.
  if (!vm || vm.uid !== scope.status.server?.uid || vm.deleting) {
    const message = `VirtualMachine ${vmName} was deleted while its image was being saved`;
    scope.fail(ConditionType.ServerReady, Reason.ServerDeleted, message);
    return;
  }

  // KubeVirt will not export a snapshot of a VM it marks failed (the export never gets a
  // status): say so now, in its words, rather than waiting out --export-timeout.
  if (vm.failure && scope.condition(ConditionType.Exported)?.status !== 'True') {
    scope.fail(ConditionType.Exported, Reason.ServerFailed, serverFailedMessage(vmName, vm.failure));
    return;
  }
  const snapshotted = await snapshotStep(scope, deps);
  if ('stop' in snapshotted) return snapshotted.stop;
  // The export (an exporter Pod, a restored PVC per volume) only once a transfer slot is
  // ours: images waiting for one hold nothing but their snapshot.
  if (!deps.slots.reserve(scope.key)) {
    scope.markWaiting(
      ConditionType.Exported,
      Reason.WaitingForExportSlot,
      `Waiting for a free transfer slot (${deps.config.maxConcurrentExports} at once) before exporting`,
      'Unknown',
    );
    return; // a freed slot wakes us
  }
  const exported = await exportStep(scope, deps);
  if ('stop' in exported) return exported.stop;

  const selection = selectVolumes(vm, si.spec.volumes);
  if (selection.kind !== 'selected') {
    scope.fail(ConditionType.ServerReady, Reason.UnsupportedVolume, selection.message);
    return;
  }
  const pushed = new Set((scope.status.images ?? []).map((i) => i.volume));
  if (selection.volumes.every((v) => pushed.has(v.name))) {
    const artifact = await vmArtifactStep(scope, deps);
    if (artifact !== true) return artifact.stop;
    return finishSaving(scope, vm);
  }
  return pushStep(scope, deps, selection.volumes, exported.done);
}

/**
 * Saving's exit: every volume and the VM artifact are pushed. Report whether the VM is back
 * in the state it had at request time (a snapshot must not change it), then go Active.
 */
function finishSaving(scope: Scope, vm: VirtualMachineView): ReconcileResult | void {
  const before = scope.status.server?.statusAtRequest;
  const restored = vm.printableStatus === before;
  scope.status.server = { ...scope.status.server, restored };
  if (restored) {
    scope.setCondition(
      ConditionType.ServerRestored,
      'True',
      Reason.ServerStateRestored,
      `VirtualMachine ${vm.name} is ${before} again`,
    );
  } else {
    const message = `VirtualMachine ${vm.name} was ${before} when the image was requested and is ${vm.printableStatus} now`;
    scope.setCondition(ConditionType.ServerRestored, 'False', Reason.ServerStateChanged, message);
    scope.event('Warning', Reason.ServerStateChanged, message);
  }
  const images = scope.status.images ?? [];
  scope.setCondition(
    ConditionType.Pushed,
    'True',
    Reason.Succeeded,
    `Pushed ${images.map((i) => i.reference).join(', ')}`,
  );
  scope.setPhase('Active', Reason.Active, `Image ${images[0]?.reference ?? ''} is active`);
  return; // our own status write wakes us for the clean-up
}

/** KubeVirt's own words for a VM it marks failed, and what that means for the image. */
function serverFailedMessage(vmName: string, failure: string): string {
  return `KubeVirt marks VirtualMachine ${vmName} failed (${failure}); no image can be made of it until that is fixed`;
}
