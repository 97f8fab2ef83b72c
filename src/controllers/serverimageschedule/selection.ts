// Which VirtualMachines a schedule backs up at a run: serverRef's one, or every VM of the
// namespace its label selector matches (metav1.LabelSelector semantics).
import type { KubernetesObject } from '@kubernetes/client-node';
import type { LabelSelector } from '../../api/serverimageschedule.js';
import type { ScheduleObject } from './types.js';

export function matchesSelector(selector: LabelSelector, labels: Record<string, string> = {}): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const ok =
      operator === 'In'
        ? has && values.includes(labels[key]!)
        : operator === 'NotIn'
          ? !has || !values.includes(labels[key]!)
          : operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/** The names of the VMs selected now, sorted; for serverRef, its name even when the VM is missing. */
export function selectedServers(schedule: ScheduleObject, vms: KubernetesObject[]): string[] {
  const { serverRef, serverSelector } = schedule.spec;
  if (serverRef) return [serverRef.name];
  return vms
    .filter(
      (vm) => !vm.metadata?.deletionTimestamp && matchesSelector(serverSelector ?? {}, vm.metadata?.labels),
    )
    .map((vm) => vm.metadata!.name!)
    .sort();
}
