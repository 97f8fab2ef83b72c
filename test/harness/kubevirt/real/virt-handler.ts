// The simulator's part of virt-handler (the node agent that runs the guest): a VMI that
// virt-controller has Scheduled onto the bed's Node (its virt-launcher Pod is Running)
// goes Running, as virt-handler reports once the domain started; a VMI being deleted goes
// Succeeded (the guest shut down), after which virt-controller removes its finalizers.
// The guest's state comes from the VM's switches (../annotations.ts), standing in for
// what virt-handler sees in the domain: `paused=true` (a user's `virtctl pause`, which
// goes through virt-api to virt-handler) gives the VMI Paused=True PausedByUser;
// `guest-agent=true` gives AgentConnected=True; `printable-status=Migrating` plays a live
// migration: the VMI's status.migrationState gets a startTimestamp (as the source
// virt-handler writes it when the migration begins) and, once the switch is removed, an
// endTimestamp and completed. virt-controller computes the VM's printableStatus Migrating
// from those timestamps itself (migrations.IsMigrating); no other forced printableStatus
// has a seam here. Freeze/thaw is virt-api's subresource (subresources-api.ts).
// The VMI CRD has no status subresource: virt-handler updates the object itself.
import * as k8s from '@kubernetes/client-node';
import { Ann, annotation, isTrue } from '../annotations.js';
import { keyOf, type Obj } from '../api.js';
import { WorkQueue, type Logger } from '../work-queue.js';
import { NODE_NAME } from './kubelet.js';
import { startWatching } from './watch.js';

const VMI = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances' };
const VM = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };
const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

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

/** Now as Kubernetes writes a metav1.Time (seconds). */
const kubeNow = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The migrationState to write for the VM's switch, or undefined when it stays as it is: a
 * migration starts while the VM asks for Migrating, and ends (completed) once it does not.
 */
function migrationChange(vm: Obj | undefined, vmi: Obj): object | undefined {
  const state = vmi.status?.migrationState as { startTimestamp?: string; endTimestamp?: string } | undefined;
  const migrating = Boolean(state?.startTimestamp && !state.endTimestamp);
  const wanted = annotation(vm, Ann.printableStatus) === 'Migrating';
  if (wanted && !migrating)
    return {
      startTimestamp: kubeNow(),
      sourceNode: NODE_NAME,
      targetNode: NODE_NAME,
      mode: 'PreCopy',
      completed: false,
    };
  if (!wanted && migrating) return { ...state, endTimestamp: kubeNow(), completed: true };
  return undefined;
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
    const vm = this.vms.get(name, namespace);
    const ours = next === 'Running' ? guestConditions(vm) : [];
    const migrationState = next === 'Running' ? migrationChange(vm, vmi) : undefined;
    const owned = (c: Condition) => c.type === 'Paused' || c.type === 'AgentConnected';
    const kept = current.filter((c) => !owned(c));
    const before = current.filter(owned);
    const same =
      before.length === ours.length &&
      ours.every((c) => before.some((b) => b.type === c.type && b.status === c.status));
    if (next === phase && same && !migrationState) return;
    const conditions = [
      ...kept,
      ...ours.map((c) => before.find((b) => b.type === c.type && b.status === c.status) ?? c),
    ];
    // A JSON patch, as virt-handler's own: values are stored as given. A merge patch would
    // drop the null times of virt-controller's conditions (null means "remove" there), and
    // virt-controller's next JSON patch, whose `test` holds the conditions it last saw with
    // those nulls, would then fail for good (seen: the VMI stuck Ready=False GuestNotRunning).
    await this.custom.patchNamespacedCustomObject(
      {
        ...VMI,
        namespace,
        name,
        body: [
          { op: 'test', path: '/metadata/resourceVersion', value: vmi.metadata.resourceVersion },
          { op: 'add', path: '/status/phase', value: next },
          { op: 'add', path: '/status/conditions', value: conditions },
          ...(migrationState ? [{ op: 'add', path: '/status/migrationState', value: migrationState }] : []),
        ],
        fieldManager: 'serverimage-sim-virt-handler',
      },
      jsonPatch,
    );
  }
}
