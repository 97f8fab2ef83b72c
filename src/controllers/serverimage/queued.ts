// Queued (Nova answered 202): check the preconditions, waiting within bounds, then
// move to Saving or to Error with Nova's reasons (404, 409, 415, 401/403). In order: the
// registry is one the operator may push to (no request made otherwise); the VM exists and
// is in an imageable state; no other image of it goes first; its volumes' storage is
// ready; the registry lets us push. Only then is anything made (the snapshot, in Saving).
import {
  isAboutToStart,
  isWaitingForVolume,
  isImageable,
  viewVirtualMachine,
  type VirtualMachineView,
} from '../../kubevirt/virtual-machine.js';
import type { ReconcileResult } from '../../kube/index.js';
import type { Deps } from './deps.js';
import { formatDuration } from './durations.js';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';
import type { Scope } from './scope.js';
import { checkRegistryAllowed, checkRegistryReady } from './registry-precondition.js';
import { clearRetry, startWaiting } from './retry-budget.js';
import { toDate, type ServerImageObject } from './types.js';
import { selectVolumes } from './volume-selection.js';

const TERMINAL = new Set(['Active', 'Error']);

/** Nova's one-task-per-server rule: images of one VM go one at a time, Saving first, then oldest first. */
function imageAhead(si: ServerImageObject, deps: Deps): ServerImageObject | undefined {
  const created = (o: ServerImageObject) => toDate(o.metadata.creationTimestamp)?.getTime() ?? 0;
  const rank = (o: ServerImageObject) => (o.status?.phase === 'Saving' ? 0 : 1);
  const contenders = deps.serverImages
    .list(si.metadata.namespace)
    .filter(
      (o) =>
        o.spec.serverRef.name === si.spec.serverRef.name &&
        !TERMINAL.has(o.status?.phase ?? '') &&
        !o.metadata.deletionTimestamp,
    )
    .sort(
      (a, b) =>
        rank(a) - rank(b) || created(a) - created(b) || a.metadata.name.localeCompare(b.metadata.name),
    );
  const first = contenders[0];
  return first && first.metadata.uid !== si.metadata.uid ? first : undefined;
}

/** Waits until `timeoutMs` after the request, then fails with `reason`. */
function waitBounded(
  scope: Scope,
  timeoutMs: number,
  waitReason: string,
  failReason: string,
  message: string,
): ReconcileResult | void {
  const waited =
    scope.now.getTime() - (toDate(scope.object.metadata.creationTimestamp)?.getTime() ?? scope.now.getTime());
  if (waited >= timeoutMs) {
    scope.fail(ConditionType.ServerReady, failReason, `${message} (waited ${formatDuration(waited)})`);
    return;
  }
  scope.markWaiting(
    ConditionType.ServerReady,
    waitReason,
    `${message}; waiting up to ${formatDuration(timeoutMs)}`,
  );
  return { requeueAfter: timeoutMs - waited };
}

export async function reconcileQueued(scope: Scope, deps: Deps): Promise<ReconcileResult | void> {
  const si = scope.object;
  const vmName = si.spec.serverRef.name;
  if (!scope.phase)
    scope.setPhase('Queued', Reason.Queued, `Accepted: image of VirtualMachine ${vmName} queued`);
  if (!checkRegistryAllowed(scope, deps)) return;

  const vmObject = deps.vms.get(vmName, si.metadata.namespace);
  if (!vmObject) {
    return waitBounded(
      scope,
      deps.config.serverWaitTimeout,
      Reason.WaitingForServer,
      Reason.ServerNotFound,
      `VirtualMachine ${vmName} not found`,
    );
  }
  const vm = viewVirtualMachine(vmObject);
  const aboutToStart = isAboutToStart(vm);
  const shownState = aboutToStart
    ? `${vm.printableStatus} with runStrategy Always (about to start)`
    : vm.printableStatus;
  if (vm.failure) {
    // KubeVirt's Failure condition: some clear by themselves (virt-controller retries a VMI
    // that a quota refused), others need a person (a spec that conflicts with its
    // instancetype, whose export would never get a status). Say KubeVirt's words at once, and
    // wait for them to clear within the VM-state bound; past it the image ends in its words.
    return waitBounded(
      scope,
      deps.config.serverStateTimeout,
      Reason.WaitingForServerState,
      Reason.ServerFailed,
      `VirtualMachine ${vmName} is ${shownState} and KubeVirt marks it failed (${vm.failure}); no image can be made of it until that is fixed`,
    );
  }
  if (!isImageable(vm.printableStatus) || vm.snapshotInProgress || aboutToStart) {
    // KubeVirt waits for a missing volume: so do we, saying which (WaitingForVolume, then
    // VolumeNotReady), as for a stopped VM. Once it is there, the VM's state is waited for.
    if (isWaitingForVolume(vm.printableStatus)) {
      const selection = selectVolumes(vm, si.spec.volumes, deps.storage);
      if (selection.kind === 'waiting') return waitForVolumes(scope, deps, selection.message);
    }
    if (!vm.stateReported) {
      return waitBounded(
        scope,
        deps.config.serverStateTimeout,
        Reason.WaitingForServerState,
        Reason.InvalidServerState,
        `KubeVirt has not reported the state of VirtualMachine ${vmName} yet`,
      );
    }
    const state = vm.snapshotInProgress ? `${vm.printableStatus} with a snapshot in progress` : shownState;
    return waitBounded(
      scope,
      deps.config.serverStateTimeout,
      Reason.WaitingForServerState,
      Reason.InvalidServerState,
      `VirtualMachine ${vmName} is ${state}; an image needs Running, Stopped or Paused`,
    );
  }
  const ahead = imageAhead(si, deps);
  if (ahead) {
    scope.markWaiting(
      ConditionType.ServerReady,
      Reason.WaitingForOtherImage,
      `ServerImage ${ahead.metadata.name} of VirtualMachine ${vmName} goes first (one image at a time per VM)`,
    );
    return; // its phase change wakes us
  }
  const selection = selectVolumes(vm, si.spec.volumes, deps.storage);
  if (selection.kind === 'unsupported') {
    scope.fail(ConditionType.ServerReady, Reason.UnsupportedVolume, selection.message);
    return;
  }
  if (selection.kind === 'waiting') return waitForVolumes(scope, deps, selection.message);
  clearRetry(scope, VOLUMES_STEP);
  // The VM side is ready; what may still be waited for is the registry's.
  scope.setCondition(
    ConditionType.ServerReady,
    'True',
    Reason.Succeeded,
    `VirtualMachine ${vm.name} is ${vm.printableStatus}`,
  );
  const registry = await checkRegistryReady(scope, deps);
  if (!registry.ready) return registry.result;
  startSaving(scope, vm, selection.volumes.map((v) => v.name).join(', '));
  return; // our own status write wakes us for Saving
}

/** The retry record's step while volumes are waited for. */
const VOLUMES_STEP = 'VolumesReady';

/**
 * A PVC or DataVolume not ready yet: waited for up to --server-state-timeout from when
 * the wait began (status.retry.since, so a restart does not reset it). Their informers wake us.
 */
function waitForVolumes(scope: Scope, deps: Deps, message: string): ReconcileResult | void {
  const timeout = deps.config.serverStateTimeout;
  const waited = startWaiting(scope, VOLUMES_STEP, message);
  if (waited >= timeout) {
    scope.fail(
      ConditionType.ServerReady,
      Reason.VolumeNotReady,
      `Gave up waiting for ${message} (waited ${formatDuration(waited)})`,
    );
    return;
  }
  scope.markWaiting(
    ConditionType.ServerReady,
    Reason.WaitingForVolume,
    `Waiting for ${message}; up to ${formatDuration(timeout)}`,
  );
  return { requeueAfter: timeout - waited };
}

function startSaving(scope: Scope, vm: VirtualMachineView, volumes: string): void {
  scope.status.server = { uid: vm.uid, statusAtRequest: vm.printableStatus };
  scope.setPhase(
    'Saving',
    Reason.Saving,
    `Saving volumes ${volumes} of VirtualMachine ${vm.name} (${vm.printableStatus})`,
  );
}
