// The simulator's part of virt-handler (the node agent that runs the guest): a VMI that
// virt-controller has Scheduled onto the bed's Node (its virt-launcher Pod is Running)
// goes Running, as virt-handler reports once the domain started; a VMI being deleted goes
// Succeeded (the guest shut down), after which virt-controller removes its finalizers.
// There is no guest: no guest agent (AgentConnected never set), no freeze (stage 2).
// The VMI CRD has no status subresource: virt-handler updates the object itself.
import * as k8s from '@kubernetes/client-node';
import { keyOf, type Obj } from '../api.js';
import { WorkQueue, type Logger } from '../work-queue.js';
import { startWatching } from './watch.js';
import { NODE_NAME } from './kubelet.js';

const VMI = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances' };
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export class VirtHandler {
  readonly queue: WorkQueue;
  private stopWatching: () => Promise<void> = async () => undefined;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly informer: k8s.Informer<Obj> & k8s.ObjectCache<Obj>;

  constructor(kc: k8s.KubeConfig, log: Logger) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.queue = new WorkQueue('virt-handler', (key) => this.sync(key), log);
    this.informer = k8s.makeInformer<Obj>(kc, `/apis/${VMI.group}/${VMI.version}/${VMI.plural}`, () =>
      this.custom.listClusterCustomObject(VMI),
    );
    this.informer.on('add', (o) => this.queue.add(keyOf(o)));
    this.informer.on('update', (o) => this.queue.add(keyOf(o)));
  }

  async start(): Promise<void> {
    this.stopWatching = await startWatching(this.informer as k8s.Informer<k8s.KubernetesObject>);
  }

  async stop(): Promise<void> {
    await this.stopWatching();
    await this.queue.stop();
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const vmi = this.informer.get(name, namespace);
    if (!vmi || vmi.status?.nodeName !== NODE_NAME) return;
    const phase = vmi.status?.phase;
    let next: string | undefined;
    if (vmi.metadata.deletionTimestamp)
      next = phase === 'Succeeded' || phase === 'Failed' ? undefined : 'Succeeded';
    else if (phase === 'Scheduled') next = 'Running';
    if (!next) return;
    await this.custom.patchNamespacedCustomObject(
      {
        ...VMI,
        namespace,
        name,
        body: { metadata: { resourceVersion: vmi.metadata.resourceVersion }, status: { phase: next } },
        fieldManager: 'serverimage-sim-virt-handler',
      },
      mergePatch,
    );
  }
}
