// fault-vm-change (annotations.ts): the VM changes once mid-way through the operator's work,
// as a user or another controller would change it; virt-controller then acts on it as on a
// cluster. The stand-ins that see each moment call fire(): the CSI sidecar
// (csi-snapshotter.ts: snapshot-start before it cuts, snapshot-done once readyToUse), the
// kubelet (kubelet.ts: export-ready when the exporter Pod is first Ready) and the Service
// proxy (service-routing.ts: export-read at a download's first bytes). This is the one
// place that decides "once per snapshot or export and moment".
import { Ann, vmChangeFor, type VmChangeWhen } from '../annotations.js';
import { VM, type Client, type Obj } from '../api.js';
import type { Logger } from '../work-queue.js';

export class VmChanges {
  private readonly fired = new Set<string>();

  constructor(
    private readonly client: Client,
    private readonly log: Logger,
  ) {}

  /**
   * Makes the change armed on `vm` for `when`, once per `triggerUid` (the VM snapshot's
   * content or the export) and moment. Resolves once the API server took the change;
   * a failed change is logged, not thrown (the stand-in goes on with its work).
   */
  async fire(vm: Obj | undefined, when: VmChangeWhen, triggerUid: string | undefined): Promise<void> {
    const what = vmChangeFor(vm, when);
    const id = `${triggerUid}:${when}`;
    if (!vm || !what || !triggerUid || this.fired.has(id)) return;
    this.fired.add(id);
    this.log(`fault: VM ${vm.metadata.namespace}/${vm.metadata.name} -> ${what} at ${when}`);
    await changeVm(this.client, vm, what).catch((err) => this.log(`vm change at ${when}`, err));
  }
}

/**
 * fault-vm-change's changes that a real cluster has a way to make: runStrategy, the
 * virt-handler stand-in's pause switch, deleting the VM. A forced printableStatus is
 * refused: virt-controller writes the VM's status.
 */
async function changeVm(client: Client, vm: Obj, what: string): Promise<void> {
  const { namespace, name } = vm.metadata;
  switch (what) {
    case 'Stopped':
      return void (await client.patch(VM, namespace, name, {
        spec: { runStrategy: 'Halted', running: null },
      }));
    case 'Running':
      return void (await client.patch(VM, namespace, name, {
        spec: { runStrategy: 'Always', running: null },
        metadata: { annotations: { [Ann.paused]: null } },
      }));
    case 'Paused':
      return void (await client.patch(VM, namespace, name, {
        metadata: { annotations: { [Ann.paused]: 'true' } },
      }));
    case 'Deleted':
      return void (await client.delete(VM, namespace, name));
    default:
      throw new Error(
        `fault-vm-change ${what}: a forced printableStatus is not supported with the real virt-controller`,
      );
  }
}
