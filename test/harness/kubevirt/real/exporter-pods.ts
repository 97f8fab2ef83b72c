// The real node's exporter Pods, for the two seams the kubelet stand-in keeps in its own
// code (kubelet.ts), made real:
//  - fault-export=never-ready: while the export (or its VM) arms it, a rule first in the
//    node's filter OUTPUT refuses (TCP reset) connections to the Pod's IP on its readiness
//    probe's port. The kubelet runs in the node's network namespace, so its probe is the
//    node's own traffic (OUTPUT); connections forwarded to the Pod (the host's and other
//    Pods' through kube-proxy) pass FORWARD and are not touched. The probe fails as it does
//    on a node that cannot reach its Pod: the Pod Running, not Ready, and virt-controller
//    holds the export Pending. Removing the switch deletes the rule, and the kubelet's next
//    probe passes. The rule goes in as soon as the Pod has its IP, seconds before the
//    probe's initial delay is over.
//  - fault-vm-change at export-ready: when the kubelet first reports the Pod Ready.
import * as k8s from '@kubernetes/client-node';
import { deleteRule, insertRule, type NodeRule } from '../../node/iptables.js';
import type { NodeNetwork } from '../../node/netns.js';
import { Ann, faultValue } from '../annotations.js';
import type { Obj } from '../api.js';
import type { Logger } from '../work-queue.js';
import { startWatching } from './watch.js';

const EXPORTER_LABEL = 'kubevirt.io.virt-export-service';
/** How often the switches are read again (they are on the export or VM, not the Pod). */
const RECHECK_MS = 500;

export interface RealExporterPodsOptions {
  kc: k8s.KubeConfig;
  nodeName: string;
  network: NodeNetwork;
  /** The objects whose annotations carry a Pod's faults (its export, then the VM). */
  faultSources(pod: k8s.V1Pod): Array<Obj | undefined>;
  /** The kubelet reported the Pod Ready, the first time. */
  onReady(pod: k8s.V1Pod): Promise<void>;
  log: Logger;
}

interface Tracked {
  rule?: NodeRule;
  readySeen: boolean;
}

const isReady = (pod: k8s.V1Pod) =>
  !!pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

/** The port the readiness probe dials (KubeVirt's exporter: 8443 by number). */
function probePort(pod: k8s.V1Pod): number | undefined {
  const container = pod.spec?.containers[0];
  const port = container?.readinessProbe?.httpGet?.port;
  if (typeof port === 'number') return port;
  const named = container?.ports?.find((p) => p.name === port)?.containerPort;
  return named ?? (port !== undefined && /^\d+$/.test(port) ? Number(port) : undefined);
}

export class RealExporterPods {
  private readonly informer: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod>;
  private readonly tracked = new Map<string, Tracked>();
  private chain = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private stopWatching: () => Promise<void> = async () => undefined;

  constructor(private readonly options: RealExporterPodsOptions) {
    const core = options.kc.makeApiClient(k8s.CoreV1Api);
    this.informer = k8s.makeInformer(
      options.kc,
      '/api/v1/pods',
      () => core.listPodForAllNamespaces({ labelSelector: EXPORTER_LABEL }),
      EXPORTER_LABEL,
    );
    this.informer.on('add', () => this.enqueue());
    this.informer.on('update', () => this.enqueue());
    this.informer.on('delete', () => this.enqueue());
  }

  async start(): Promise<void> {
    this.stopWatching = await startWatching(this.informer as k8s.Informer<k8s.KubernetesObject>);
    this.timer = setInterval(() => this.enqueue(), RECHECK_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.stopWatching();
    await this.chain;
    for (const t of this.tracked.values()) if (t.rule) await deleteRule(this.options.network, t.rule);
    this.tracked.clear();
  }

  private enqueue(): void {
    this.chain = this.chain.then(() => this.sync()).catch((err) => this.options.log('exporter pods', err));
  }

  private async sync(): Promise<void> {
    const pods = this.informer.list().filter((p) => p.spec?.nodeName === this.options.nodeName);
    const current = new Set(pods.map((p) => p.metadata!.uid!));
    for (const [uid, t] of this.tracked) {
      if (current.has(uid)) continue;
      if (t.rule) await deleteRule(this.options.network, t.rule);
      this.tracked.delete(uid);
    }
    for (const pod of pods) {
      const uid = pod.metadata!.uid!;
      const t = this.tracked.get(uid) ?? { readySeen: false };
      this.tracked.set(uid, t);
      await this.holdProbe(pod, t);
      if (isReady(pod) && !t.readySeen) {
        t.readySeen = true;
        await this.options.onReady(pod);
      }
    }
  }

  /** fault-export=never-ready: the probe refused while it is armed (above). */
  private async holdProbe(pod: k8s.V1Pod, t: Tracked): Promise<void> {
    const armed = faultValue(Ann.faultExport, ...this.options.faultSources(pod)) === 'never-ready';
    const podIp = pod.status?.podIP;
    const port = probePort(pod);
    if (armed && !t.rule && podIp && port) {
      const rule: NodeRule = {
        table: 'filter',
        chain: 'OUTPUT',
        spec: [
          ...['-p', 'tcp', '-d', `${podIp}/32`, '--dport', String(port)],
          ...['-j', 'REJECT', '--reject-with', 'tcp-reset'],
        ],
        comment: `serverimage bed: fault-export=never-ready ${pod.metadata!.namespace}/${pod.metadata!.name}`,
      };
      await insertRule(this.options.network, rule);
      t.rule = rule;
    } else if (!armed && t.rule) {
      await deleteRule(this.options.network, t.rule);
      t.rule = undefined;
    }
  }
}
