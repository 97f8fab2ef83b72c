// A kubelet stand-in for the bed's one Node. It registers the Node (Ready, KubeVirt's
// labels and device resources as virt-handler's device plugins would advertise them, and
// virt-handler's heartbeat), and runs the Pods that kube-scheduler binds to it:
//  - an exporter Pod (virt-controller's, image virt-exportserver): the real
//    virt-exportserver process with the Pod's environment and mounts (pod-files.ts),
//    listening on a loopback port of its own instead of :8443; Ready only once its
//    readiness probe's path answers over HTTPS;
//  - any other Pod (virt-launcher): nothing runs, it is reported Running and Ready (the
//    VM itself is the simulator's virt-handler, ../real/virt-handler.ts).
// A Pod being deleted is stopped and then removed (grace period 0), as the kubelet does.
import https from 'node:https';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { freePort } from '../../ports.js';
import { startProcess, type ManagedProcess } from '../../process.js';
import { toolPath } from '../../tools.js';
import { ignoreNotFound, keyOf } from '../api.js';
import { WorkQueue, type Logger } from '../work-queue.js';
import { startWatching } from './watch.js';
import { EXPORTER_IMAGE } from './virt-controller.js';
import { layOutPod, podEnv, type PodSources } from './pod-files.js';

export const NODE_NAME = 'sim-node';
const HEARTBEAT_MS = 30_000;
/** How often an exporter's readiness probe runs (the Pod says 5 s after 5 s: see README). */
const PROBE_MS = 200;

export interface RunningPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** The loopback port the container's 8443 is at (exporter Pods). */
  port?: number;
  /** The serving certificate the exporter was given (its /cert/tls.crt, tls.key). */
  certPem?: string;
  keyPem?: string;
  process?: ManagedProcess;
  ready: boolean;
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const strategicPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

function probe(port: number, probePath: string): Promise<boolean> {
  return new Promise((resolve) => {
    // The kubelet does not verify a probe's certificate either.
    const req = https.get(
      { host: '127.0.0.1', port, path: probePath, rejectUnauthorized: false, agent: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

export class Kubelet {
  readonly queue: WorkQueue;
  private stopWatching: () => Promise<void> = async () => undefined;
  private readonly core: k8s.CoreV1Api;
  private readonly informer: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod>;
  private readonly running = new Map<string, RunningPod>();
  private heartbeat?: NodeJS.Timeout;
  /** Called when a Pod's readiness or port changes (the Service routing follows). */
  onChange: () => void = () => undefined;
  /** True while a Pod's readiness probe is to fail (the fault switch fault-export=never-ready). */
  neverReady: (pod: k8s.V1Pod) => boolean = () => false;
  /** Called once an exporter Pod is first reported Ready (fault-vm-change at export-ready). */
  onReady: (pod: k8s.V1Pod) => Promise<void> = async () => undefined;

  constructor(
    kc: k8s.KubeConfig,
    private readonly dir: string,
    private readonly sources: PodSources,
    private readonly log: Logger,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.queue = new WorkQueue('kubelet', (key) => this.sync(key), log);
    this.informer = k8s.makeInformer(kc, '/api/v1/pods', () => this.core.listPodForAllNamespaces());
    const onPod = (pod: k8s.V1Pod) => {
      if (pod.spec?.nodeName === NODE_NAME) this.queue.add(keyOf(pod));
    };
    this.informer.on('add', onPod);
    this.informer.on('update', onPod);
    this.informer.on('delete', (pod) => this.queue.add(keyOf(pod)));
  }

  async start(): Promise<void> {
    await this.registerNode();
    this.heartbeat = setInterval(
      () => void this.beat().catch((e) => this.log('node heartbeat', e)),
      HEARTBEAT_MS,
    );
    this.stopWatching = await startWatching(this.informer as k8s.Informer<k8s.KubernetesObject>);
  }

  pods(): RunningPod[] {
    return [...this.running.values()];
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.stopWatching();
    await this.queue.stop();
    await Promise.all([...this.running.values()].map((p) => p.process?.stop()));
    this.running.clear();
  }

  private async registerNode(): Promise<void> {
    const devices = {
      'devices.kubevirt.io/kvm': '1k',
      'devices.kubevirt.io/tun': '1k',
      'devices.kubevirt.io/vhost-net': '1k',
    };
    const capacity = { cpu: '64', memory: '256Gi', pods: '500', 'ephemeral-storage': '1Ti', ...devices };
    await this.core
      .createNode({
        body: {
          metadata: {
            name: NODE_NAME,
            labels: {
              'kubernetes.io/hostname': NODE_NAME,
              'kubernetes.io/os': 'linux',
              'kubernetes.io/arch': 'amd64',
              'kubevirt.io/schedulable': 'true',
            },
          },
        },
      })
      .catch((err) => {
        if (!(err instanceof k8s.ApiException && err.code === 409)) throw err;
      });
    await this.core.patchNodeStatus(
      {
        name: NODE_NAME,
        body: {
          status: {
            capacity,
            allocatable: capacity,
            addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                message: 'the bed kubelet stand-in',
                lastHeartbeatTime: new Date(),
                lastTransitionTime: new Date(),
              },
            ],
          },
        },
      },
      strategicPatch,
    );
    // The API server taints a new Node not-ready (TaintNodesByCondition); kube-controller-
    // manager's node lifecycle controller lifts it once the Node is Ready. There is none here.
    await this.core.patchNode({ name: NODE_NAME, body: { spec: { taints: null } } }, mergePatch);
    await this.beat();
  }

  /** virt-handler's heartbeat: virt-controller's node controller fails the VMIs of a silent node. */
  private async beat(): Promise<void> {
    await this.core.patchNode(
      {
        name: NODE_NAME,
        body: {
          metadata: {
            labels: { 'kubevirt.io/schedulable': 'true' },
            annotations: { 'kubevirt.io/heartbeat': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') },
          },
        },
      },
      mergePatch,
    );
  }

  private async sync(key: string): Promise<number | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const pod = this.informer.get(name, namespace);
    const current = this.running.get(key);
    if (
      !pod ||
      pod.metadata?.deletionTimestamp ||
      ['Succeeded', 'Failed'].includes(pod.status?.phase ?? '')
    ) {
      if (current) {
        this.running.delete(key);
        await current.process?.stop();
        rmSync(this.podDir(namespace, name), { recursive: true, force: true });
        this.onChange();
      }
      if (pod?.metadata?.deletionTimestamp) {
        await ignoreNotFound(
          this.core.deleteNamespacedPod({
            namespace,
            name,
            gracePeriodSeconds: 0,
            body: { gracePeriodSeconds: 0 },
          }),
        );
      }
      return;
    }
    if (pod.spec?.nodeName !== NODE_NAME) return;
    if (current?.process && current.process.child.exitCode !== null) {
      // The exporter exited (its DEADLINE): the Pod completes, as KubeVirt expects.
      await this.writeStatus(pod, 'Succeeded', false);
      return;
    }
    // By its Service's label too: with a real node in the bed the image is the one built here.
    const isExporter =
      pod.spec.containers[0]?.image === EXPORTER_IMAGE ||
      pod.metadata?.labels?.['kubevirt.io.virt-export-service'] !== undefined;
    if (!current) {
      const started = isExporter ? await this.startExporter(pod) : this.startInert(pod);
      this.running.set(key, started);
      await this.writeStatus(pod, 'Running', started.ready);
      this.onChange();
    }
    const running = this.running.get(key)!;
    // fault-export=never-ready: the readiness probe never passes (the Pod stays Running, not Ready).
    if (isExporter && !running.ready && this.neverReady(pod)) return 1000;
    if (isExporter && !running.ready) {
      const probePath = pod.spec.containers[0]?.readinessProbe?.httpGet?.path ?? '/';
      if (await probe(running.port!, probePath)) {
        running.ready = true;
        await this.writeStatus(pod, 'Running', true);
        this.onChange();
        await this.onReady(pod);
      } else return PROBE_MS;
    } else if (!this.statusSays(pod, running.ready)) {
      await this.writeStatus(pod, 'Running', running.ready);
    }
    // An exporter is watched until it exits (deadline) or is deleted.
    return isExporter ? 1000 : undefined;
  }

  private statusSays(pod: k8s.V1Pod, ready: boolean): boolean {
    const cond = (pod.status?.conditions ?? []).find((c) => c.type === 'Ready');
    return pod.status?.phase === 'Running' && cond?.status === (ready ? 'True' : 'False');
  }

  private podDir(namespace: string, name: string): string {
    return path.join(this.dir, 'pods', namespace, name);
  }

  private startInert(pod: k8s.V1Pod): RunningPod {
    return {
      namespace: pod.metadata!.namespace!,
      name: pod.metadata!.name!,
      labels: pod.metadata?.labels ?? {},
      ready: true,
    };
  }

  private async startExporter(pod: k8s.V1Pod): Promise<RunningPod> {
    const { namespace, name } = pod.metadata as { namespace: string; name: string };
    const root = path.join(this.podDir(namespace, name), 'root');
    rmSync(root, { recursive: true, force: true });
    await layOutPod(pod, root, this.sources);
    const port = await freePort();
    const env: Record<string, string> = { ...podEnv(pod, root), LISTEN_ADDR: `127.0.0.1:${port}` };
    const proc = startProcess(
      toolPath('virt-exportserver'),
      [],
      path.join(this.podDir(namespace, name), 'virt-exportserver.log'),
      env,
    );
    return {
      namespace,
      name,
      labels: pod.metadata?.labels ?? {},
      port,
      certPem: env.CERT_FILE ? readFileSync(env.CERT_FILE, 'utf8') : undefined,
      keyPem: env.KEY_FILE ? readFileSync(env.KEY_FILE, 'utf8') : undefined,
      process: proc,
      ready: false,
    };
  }

  private async writeStatus(pod: k8s.V1Pod, phase: 'Running' | 'Succeeded', ready: boolean): Promise<void> {
    const now = new Date();
    const status = (b: boolean) => (b ? 'True' : 'False');
    const containers = pod.spec!.containers.map((c) => ({
      name: c.name,
      image: c.image!,
      imageID: c.image!,
      ready: phase === 'Running' && ready,
      started: phase === 'Running',
      restartCount: 0,
      state:
        phase === 'Running'
          ? { running: { startedAt: pod.status?.startTime ?? now } }
          : { terminated: { exitCode: 0, reason: 'Completed', finishedAt: now } },
    }));
    // Init containers ran to completion before the Pod started, except native sidecars
    // (restartPolicy Always, as virt-launcher's guest-console-log), which run beside the
    // containers and count in kubectl's READY column.
    const initContainers = (pod.spec!.initContainers ?? []).map((c) => {
      const sidecar = c.restartPolicy === 'Always' && phase === 'Running';
      return {
        name: c.name,
        image: c.image!,
        imageID: c.image!,
        ready: sidecar && ready,
        started: sidecar,
        restartCount: 0,
        state: sidecar
          ? { running: { startedAt: pod.status?.startTime ?? now } }
          : { terminated: { exitCode: 0, reason: 'Completed', finishedAt: pod.status?.startTime ?? now } },
      };
    });
    await this.core.patchNamespacedPodStatus(
      {
        namespace: pod.metadata!.namespace!,
        name: pod.metadata!.name!,
        body: {
          status: {
            phase,
            hostIP: '127.0.0.1',
            podIP: '127.0.0.1',
            podIPs: [{ ip: '127.0.0.1' }],
            startTime: pod.status?.startTime ?? now,
            conditions: [
              { type: 'Initialized', status: 'True', lastTransitionTime: now },
              {
                type: 'ContainersReady',
                status: status(ready && phase === 'Running'),
                lastTransitionTime: now,
              },
              { type: 'Ready', status: status(ready && phase === 'Running'), lastTransitionTime: now },
            ],
            containerStatuses: containers,
            initContainerStatuses: initContainers,
          },
        },
      },
      strategicPatch,
    );
  }
}
