// A run at a due time: one backup per selected VM. Creation is idempotent (the name is
// derived from schedule, VM and due time): AlreadyExists means this run already made it,
// here or in a predecessor that lost its lease. A VM whose previous backup is still
// Queued or Saving is skipped for this run, as is a serverRef VM that does not exist.
import type { KubernetesObject } from '@kubernetes/client-node';
import { isAlreadyExists, metaTime } from '../../kube/index.js';
import { type Backup, isInFlight } from './backups.js';
import type { ScheduleDeps } from './deps.js';
import { backupName } from './names.js';
import { Reason } from '../../api/serverimageschedule-conditions.js';
import type { ScheduleScope } from './scope.js';
import { backupFor } from './stamping.js';
import { SERVERIMAGE_RESOURCE } from '../../api/kinds.js';

export async function runAt(
  scope: ScheduleScope,
  deps: ScheduleDeps,
  due: Date,
  servers: string[],
  backups: Map<string, Backup[]>,
): Promise<void> {
  const schedule = scope.object;
  const { namespace, name } = schedule.metadata;
  const created: string[] = [];
  const skipped: string[] = [];
  for (const vmName of servers) {
    const imageName = backupName(name, vmName, due);
    const group = backups.get(vmName) ?? [];
    if (group.some((b) => b.image.metadata.name === imageName)) {
      created.push(imageName); // made before: by us a moment ago, or by the previous leader
      continue;
    }
    const previous = group[0];
    if (previous && isInFlight(previous)) {
      const phase = previous.image.status?.phase ?? 'Queued';
      scope.event(
        'Warning',
        Reason.SkippedServer,
        `Skipped VirtualMachine ${vmName} for the run due ${metaTime(due)}: its previous backup ${previous.image.metadata.name} is still ${phase}`,
      );
      skipped.push(vmName);
      continue;
    }
    const vm: KubernetesObject | undefined = deps.vms.get(vmName, namespace);
    if (!vm?.metadata?.uid) {
      scope.event(
        'Warning',
        Reason.ServerNotFound,
        `VirtualMachine ${vmName} not found: no backup for the run due ${metaTime(due)}`,
      );
      skipped.push(vmName);
      continue;
    }
    const body = backupFor(schedule, { name: vmName, uid: vm.metadata.uid }, due);
    try {
      await deps.custom.createNamespacedCustomObject({ ...SERVERIMAGE_RESOURCE, namespace, body });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    created.push(body.metadata.name);
  }
  if (servers.length === 0) {
    scope.event(
      'Warning',
      Reason.NoServersSelected,
      `No VirtualMachine selected for the run due ${metaTime(due)}`,
    );
  } else {
    const parts = [`ServerImages ${created.length > 0 ? created.join(', ') : 'none'}`];
    if (skipped.length > 0) parts.push(`skipped ${skipped.join(', ')}`);
    scope.event('Normal', Reason.Run, `Run due ${metaTime(due)}: ${parts.join('; ')}`);
  }
  scope.status.lastScheduleTime = metaTime(due);
}
