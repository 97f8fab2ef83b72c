// Active: every image is pushed and verified. Report whether the VM is back in the state
// it had at request time (a snapshot must not change it), then remove the snapshot and
// export, which are only means to an end.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { VirtualMachineView } from '../../kubevirt/virtual-machine.js';
import type { Deps, PhaseResult } from './deps.js';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';
import type { Scope } from './scope.js';

export function finishSaving(scope: Scope, deps: Deps, vm: VirtualMachineView): PhaseResult {
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

/** Active is final; only the clean-up of children is left, and it is idempotent. */
export async function reconcileActive(scope: Scope, deps: Deps): Promise<PhaseResult> {
  const si = scope.object;
  const names = deps.children.names(si);
  const { namespace } = si.metadata;
  // An object already being deleted (KubeVirt's finalizers at work) needs no second delete.
  const present = (o: KubernetesObject | undefined) => o !== undefined && !o.metadata?.deletionTimestamp;
  const leftovers =
    present(deps.exports.get(namespace, names.export)) ||
    (!deps.config.keepSnapshots && present(deps.snapshots.get(namespace, names.snapshot)));
  if (leftovers) await deps.children.purge(si, deps.config.keepSnapshots);
  // The export is gone: its transfer slot is free for the next image.
  deps.transfers.release(scope.key);
  return;
}
