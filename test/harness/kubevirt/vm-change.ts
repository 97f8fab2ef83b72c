// The "VM changes state mid-way" fault (annotation fault-vm-change on the VM): fired
// at most once per triggering object (snapshot or export) and moment.
import { vmChangeFor, type VmChangeWhen } from './annotations.js';
import type { Informers } from './informers.js';
import type { VmController } from './vm-controller.js';
import type { Logger } from './work-queue.js';

export class VmChangeFault {
  private readonly fired = new Set<string>();

  constructor(
    private readonly informers: Informers,
    private readonly vms: VmController,
    private readonly log: Logger,
  ) {}

  async fire(
    namespace: string,
    vmName: string | undefined,
    when: VmChangeWhen,
    triggerUid: string,
  ): Promise<void> {
    if (!vmName) return;
    const vm = this.informers.vms.get(vmName, namespace);
    const what = vmChangeFor(vm, when);
    const id = `${triggerUid}:${when}`;
    if (!vm || !what || this.fired.has(id)) return;
    this.fired.add(id);
    this.log(`fault: VM ${namespace}/${vmName} -> ${what} at ${when}`);
    await this.vms.change(vm, what);
  }
}
