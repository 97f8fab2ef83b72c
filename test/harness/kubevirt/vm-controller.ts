// Plays virt-controller for VirtualMachines: status.printableStatus from
// spec.runStrategy (Starting/Stopping in between, for transitionMs), the pause
// switch, the guest agent, conditions, volumeSnapshotStatuses, DataVolumes from
// spec.dataVolumeTemplates (owned by the VM; Provisioning while they fill,
// DataVolumeError when one failed, as pkg/virt-controller/watch/vm does), and deletion
// (a finalizer like KubeVirt's; the DataVolumes and PVCs the VM owns are removed, as the
// garbage collector would do - there is no kube-controller-manager in the bed).
// A VM is requeued only by changes that concern it: its own, and those of the PVCs,
// DataVolumes and StorageClasses its volumes use; its status is written only on change.
import { Ann, annotation, isTrue } from './annotations.js';
import {
  DATA_VOLUME,
  VM,
  ignoreNotFound,
  keyOf,
  ownedBy,
  ownerReference,
  type Client,
  type Obj,
} from './api.js';
import { sameConditions, withTimes, type Condition } from './conditions.js';
import type { Informers } from './informers.js';
import { sameJson } from './same.js';
import { claimNameOf, vmVolumes, volumeSnapshotStatuses } from './volumes.js';
import { WorkQueue, type Logger } from './work-queue.js';

export const VM_FINALIZER = 'kubevirt.io/virtualMachineControllerFinalize';

/** printableStatus values during which a VMI exists. */
const UP = new Set(['Starting', 'Running', 'Paused', 'Stopping', 'Migrating', 'Terminating', 'Unknown']);

export function runStrategyOf(vm: Obj): string {
  return vm.spec?.runStrategy ?? (vm.spec?.running === true ? 'Always' : 'Halted');
}

export class VmController {
  readonly queue: WorkQueue;
  /** key -> when the current Starting/Stopping/Terminating phase ends. */
  private readonly transitions = new Map<string, number>();

  constructor(
    private readonly client: Client,
    private readonly informers: Informers,
    private readonly transitionMs: number,
    log: Logger,
  ) {
    this.queue = new WorkQueue('vm', (key) => this.reconcile(key), log);
    informers.vms.on('add', (o) => this.queue.add(keyOf(o)));
    informers.vms.on('update', (o) => this.queue.add(keyOf(o)));
    informers.vms.on('delete', (o) => this.transitions.delete(keyOf(o)));
    // volumeSnapshotStatuses depend on PVCs and StorageClasses, printableStatus on DataVolumes.
    const requeueUsers = (ns: string | undefined, uses: (vm: Obj) => boolean) => {
      for (const vm of informers.vms.list(ns)) if (uses(vm)) this.queue.add(keyOf(vm));
    };
    const claims = (vm: Obj) => vmVolumes(vm).map(claimNameOf);
    informers.pvcs.on('change', (pvc) =>
      requeueUsers(pvc.metadata?.namespace, (vm) => claims(vm).includes(pvc.metadata?.name)),
    );
    informers.dataVolumes.on('change', (dv) =>
      requeueUsers(
        dv.metadata.namespace,
        (vm) => claims(vm).includes(dv.metadata.name) || ownedBy(dv, vm.metadata.uid),
      ),
    );
    informers.storageClasses.on('change', (sc) =>
      requeueUsers(undefined, (vm) =>
        claims(vm).some(
          (c) =>
            c !== undefined &&
            informers.pvcs.get(c, vm.metadata.namespace)?.spec?.storageClassName === sc.metadata?.name,
        ),
      ),
    );
  }

  private async reconcile(key: string): Promise<number | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const vm = this.informers.vms.get(name, namespace);
    if (!vm) return;
    if (vm.metadata.deletionTimestamp) return this.finalize(vm);
    await this.client.addFinalizer(VM, vm, VM_FINALIZER);
    await this.ensureDataVolumes(vm);

    const { printableStatus, wait } = this.nextPrintableStatus(vm);
    const status = this.statusFor(vm, printableStatus);
    if (this.changed(vm, status)) await this.client.patchStatus(VM, namespace, name, status);
    return wait;
  }

  /** A DataVolume per spec.dataVolumeTemplates entry, unless it (or a PVC of its name) exists. */
  private async ensureDataVolumes(vm: Obj): Promise<void> {
    const { namespace } = vm.metadata;
    for (const template of (vm.spec?.dataVolumeTemplates ?? []) as Obj[]) {
      const name = template.metadata?.name;
      if (
        !name ||
        this.informers.dataVolumes.get(name, namespace) ||
        this.informers.pvcs.get(name, namespace)
      )
        continue;
      await this.client.ensure(DATA_VOLUME, namespace, {
        metadata: {
          name,
          namespace,
          labels: { ...template.metadata.labels, 'kubevirt.io/created-by': vm.metadata.uid },
          annotations: template.metadata.annotations,
          ownerReferences: [ownerReference(vm, VM)],
        },
        spec: template.spec,
      });
    }
  }

  /** DataVolumeError or Provisioning while a DataVolume of the VM's volumes is not done (storagetypes.HasDataVolumeProvisioning). */
  private dataVolumeBlock(vm: Obj): string | undefined {
    let block: string | undefined;
    for (const volume of vmVolumes(vm)) {
      if (!volume.dataVolume) continue;
      const dv = this.informers.dataVolumes.get(volume.dataVolume.name, vm.metadata.namespace);
      if (!dv) {
        // Its PVC without the DataVolume (made directly, or the DataVolume garbage-collected
        // by CDI after it succeeded): KubeVirt uses the PVC as it is.
        if (this.informers.pvcs.get(volume.dataVolume.name, vm.metadata.namespace)) continue;
        // One of its templates, being created right now: provisioning (KubeVirt would show
        // Starting for a moment until its cache has the new DataVolume).
        const templated = ((vm.spec?.dataVolumeTemplates ?? []) as Obj[]).some(
          (t) => t.metadata?.name === volume.dataVolume!.name,
        );
        if (templated) block = 'Provisioning';
        continue;
      }
      const phase: string = dv.status?.phase ?? '';
      if (phase === 'Succeeded' || phase === 'PendingPopulation') continue;
      if (phase === 'Failed') return 'DataVolumeError';
      const bound = (dv.status?.conditions ?? []).some(
        (c: { type: string; status: string }) => c.type === 'Bound' && c.status === 'True',
      );
      if (bound || phase !== 'WaitForFirstConsumer') block = 'Provisioning';
    }
    return block;
  }

  /** The next printableStatus, and how long until it should be looked at again. */
  private nextPrintableStatus(vm: Obj): { printableStatus: string; wait?: number } {
    const key = keyOf(vm);
    const forced = annotation(vm, Ann.printableStatus);
    if (forced) return { printableStatus: forced };
    const current: string = vm.status?.printableStatus ?? '';
    // Without a VMI, the VM's DataVolumes come first (a VMI waits for them).
    const block = UP.has(current) && current !== 'Starting' ? undefined : this.dataVolumeBlock(vm);
    if (block) {
      this.transitions.delete(key);
      return { printableStatus: block };
    }
    const strategy = runStrategyOf(vm);
    const wantUp = strategy === 'Manual' ? UP.has(current) && current !== 'Stopping' : strategy !== 'Halted';
    const up = isTrue(vm, Ann.paused) ? 'Paused' : 'Running';

    const through = (intermediate: string, final: string) => {
      if (current !== intermediate || !this.transitions.has(key)) {
        this.transitions.set(key, Date.now() + this.transitionMs);
        return { printableStatus: intermediate, wait: this.transitionMs };
      }
      const left = this.transitions.get(key)! - Date.now();
      if (left > 0) return { printableStatus: intermediate, wait: left };
      this.transitions.delete(key);
      return { printableStatus: final };
    };

    if (wantUp) {
      if (current === 'Running' || current === 'Paused' || current === 'Migrating' || current === 'Unknown') {
        return { printableStatus: up };
      }
      return through('Starting', up);
    }
    if (current === '' || current === 'Stopped' || !UP.has(current)) return { printableStatus: 'Stopped' };
    return through('Stopping', 'Stopped');
  }

  private statusFor(vm: Obj, printableStatus: string): Record<string, unknown> {
    const exists = UP.has(printableStatus);
    const running =
      printableStatus === 'Running' || printableStatus === 'Paused' || printableStatus === 'Migrating';
    const conditions: Condition[] = [];
    if (!exists) {
      conditions.push({
        type: 'Ready',
        status: 'False',
        reason: 'VMINotExists',
        message: 'VMI does not exist',
      });
    } else if (!running) {
      conditions.push({
        type: 'Ready',
        status: 'False',
        reason: 'GuestNotRunning',
        message: 'Guest VM is not reported as running',
      });
    } else {
      conditions.push({ type: 'Ready', status: 'True' });
    }
    if (running && isTrue(vm, Ann.guestAgent)) conditions.push({ type: 'AgentConnected', status: 'True' });
    if (printableStatus === 'Paused') {
      conditions.push({
        type: 'Paused',
        status: 'True',
        reason: 'PausedByUser',
        message: 'VMI was paused by user',
      });
    }
    return {
      printableStatus,
      runStrategy: runStrategyOf(vm),
      created: exists,
      ready: printableStatus === 'Running',
      conditions: withTimes(vm.status?.conditions, conditions),
      volumeSnapshotStatuses: volumeSnapshotStatuses(this.informers, vm),
    };
  }

  private changed(vm: Obj, status: Record<string, unknown>): boolean {
    const s = vm.status ?? {};
    return (
      s.printableStatus !== status.printableStatus ||
      s.runStrategy !== status.runStrategy ||
      s.created !== status.created ||
      s.ready !== status.ready ||
      !sameConditions(s.conditions, status.conditions as Condition[]) ||
      !sameJson(s.volumeSnapshotStatuses ?? [], status.volumeSnapshotStatuses)
    );
  }

  /** Deletion: Terminating while the "VMI" shuts down, then owned PVCs go and the finalizer is removed. */
  private async finalize(vm: Obj): Promise<number | void> {
    const { namespace, name } = vm.metadata;
    if (!(vm.metadata.finalizers ?? []).includes(VM_FINALIZER)) return;
    const current = vm.status?.printableStatus ?? '';
    if (UP.has(current) && current !== 'Terminating') {
      this.transitions.set(keyOf(vm), Date.now() + this.transitionMs);
      await this.client.patchStatus(VM, namespace, name, { printableStatus: 'Terminating' });
      return this.transitionMs;
    }
    const left = (this.transitions.get(keyOf(vm)) ?? 0) - Date.now();
    if (left > 0) return left;
    for (const dv of this.informers.dataVolumes.list(namespace)) {
      if (ownedBy(dv, vm.metadata.uid)) await this.client.delete(DATA_VOLUME, namespace, dv.metadata.name);
    }
    for (const pvc of this.informers.pvcs.list(namespace)) {
      if (ownedBy(pvc, vm.metadata.uid)) {
        await ignoreNotFound(
          this.client.core.deleteNamespacedPersistentVolumeClaim({ namespace, name: pvc.metadata!.name! }),
        );
      }
    }
    await this.client.removeFinalizer(VM, vm, VM_FINALIZER);
  }

  /**
   * A fault: changes the VM as if a user or the guest had done it. Stopped/Running
   * set the runStrategy, Paused pauses, Deleted deletes, anything else is forced.
   */
  async change(vm: Obj, what: string): Promise<void> {
    const { namespace, name } = vm.metadata;
    switch (what) {
      case 'Stopped':
        await this.client.patch(VM, namespace, name, { spec: { runStrategy: 'Halted', running: null } });
        break;
      case 'Running':
        await this.client.patch(VM, namespace, name, {
          spec: { runStrategy: 'Always', running: null },
          metadata: { annotations: { [Ann.paused]: null } },
        });
        break;
      case 'Paused':
        await this.client.patch(VM, namespace, name, { metadata: { annotations: { [Ann.paused]: 'true' } } });
        break;
      case 'Deleted':
        await this.client.delete(VM, namespace, name);
        break;
      default:
        await this.client.patch(VM, namespace, name, {
          metadata: { annotations: { [Ann.printableStatus]: what } },
        });
    }
  }
}
