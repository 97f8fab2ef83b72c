// The simulator's part of virt-handler (the node agent that runs the guest): a VMI that
// virt-controller has Scheduled onto the bed's Node (its virt-launcher Pod is Running)
// goes Running, as virt-handler reports once the domain started; a VMI being deleted goes
// Succeeded (the guest shut down), after which virt-controller removes its finalizers.
// The guest's state comes from the VM's switches (../annotations.ts), standing in for
// what virt-handler sees in the domain: `paused=true` (a user's `virtctl pause`, which
// goes through virt-api to virt-handler) gives the VMI Paused=True PausedByUser;
// `guest-agent=true` gives AgentConnected=True. There is no freeze/thaw (virt-api's
// subresources are not served): virt-controller calls freeze only for a running VM with
// an agent, and that snapshot fails here.
// The VMI CRD has no status subresource: virt-handler updates the object itself.
import * as k8s from '@kubernetes/client-node';
import { Ann, isTrue } from '../annotations.js';
import { keyOf, type Obj } from '../api.js';
import { WorkQueue, type Logger } from '../work-queue.js';
import { NODE_NAME } from './kubelet.js';
import { startWatching } from './watch.js';

const VMI = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances' };
const VM = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string | null;
}

/** The guest conditions virt-handler owns, from the VM's switches. */
function guestConditions(vm: Obj | undefined): Condition[] {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const out: Condition[] = [];
  if (isTrue(vm, Ann.paused))
    out.push({
      type: 'Paused',
      status: 'True',
      reason: 'PausedByUser',
      message: 'VMI was paused by user',
      lastProbeTime: null,
      lastTransitionTime: now,
    });
  if (isTrue(vm, Ann.guestAgent))
    out.push({ type: 'AgentConnected', status: 'True', lastProbeTime: null, lastTransitionTime: now });
  return out;
}

export class VirtHandler {
  readonly queue: WorkQueue;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly informer: k8s.Informer<Obj> & k8s.ObjectCache<Obj>;
  private readonly vms: k8s.Informer<Obj> & k8s.ObjectCache<Obj>;
  private stops: Array<() => Promise<void>> = [];

  constructor(kc: k8s.KubeConfig, log: Logger) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.queue = new WorkQueue('virt-handler', (key) => this.sync(key), log);
    const informer = (r: typeof VMI) =>
      k8s.makeInformer<Obj>(kc, `/apis/${r.group}/${r.version}/${r.plural}`, () =>
        this.custom.listClusterCustomObject(r),
      );
    this.informer = informer(VMI);
    this.vms = informer(VM);
    for (const i of [this.informer, this.vms]) {
      // A VMI has its VM's name: a VM's switch requeues its VMI.
      i.on('add', (o) => this.queue.add(keyOf(o)));
      i.on('update', (o) => this.queue.add(keyOf(o)));
    }
  }

  async start(): Promise<void> {
    this.stops = [await startWatching(this.vms), await startWatching(this.informer)];
  }

  async stop(): Promise<void> {
    await Promise.all(this.stops.map((s) => s()));
    await this.queue.stop();
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const vmi = this.informer.get(name, namespace);
    if (!vmi || vmi.status?.nodeName !== NODE_NAME) return;
    const phase = vmi.status?.phase;
    let next: string | undefined = phase;
    if (vmi.metadata.deletionTimestamp)
      next = phase === 'Succeeded' || phase === 'Failed' ? phase : 'Succeeded';
    else if (phase === 'Scheduled') next = 'Running';
    const current: Condition[] = vmi.status?.conditions ?? [];
    const ours = next === 'Running' ? guestConditions(this.vms.get(name, namespace)) : [];
    const owned = (c: Condition) => c.type === 'Paused' || c.type === 'AgentConnected';
    const kept = current.filter((c) => !owned(c));
    const before = current.filter(owned);
    const same =
      before.length === ours.length &&
      ours.every((c) => before.some((b) => b.type === c.type && b.status === c.status));
    if (next === phase && same) return;
    const conditions = [
      ...kept,
      ...ours.map((c) => before.find((b) => b.type === c.type && b.status === c.status) ?? c),
    ];
    await this.custom.patchNamespacedCustomObject(
      {
        ...VMI,
        namespace,
        name,
        body: {
          metadata: { resourceVersion: vmi.metadata.resourceVersion },
          status: { phase: next, conditions },
        },
        fieldManager: 'serverimage-sim-virt-handler',
      },
      mergePatch,
    );
  }
}
