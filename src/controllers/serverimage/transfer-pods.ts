// A ServerImage's transfer Pods, one per attempt (src/transfer/pod-spec.ts lays them out):
// read from the Pod informer's cache (our label only), created and deleted through the
// API. Every create tolerates "already exists" and every delete "not found", so a
// restarted operator can run any step again.
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { apiCall, isAlreadyExists, isControlledBy, isNotFound, type ObjectCache } from '../../kube/index.js';
import { ATTEMPT_LABEL, COMPONENT_LABEL, TRANSFER_COMPONENT } from '../../transfer/pod-spec.js';
import { SERVERIMAGE_LABEL } from '../../api/metadata-keys.js';
import type { ServerImageObject } from './types.js';

/** What the Pod informer lists: transfer Pods made for a ServerImage, nothing else of the namespace. */
export const TRANSFER_POD_SELECTOR = `${COMPONENT_LABEL}=${TRANSFER_COMPONENT},${SERVERIMAGE_LABEL}`;

export const POD_RESOURCE = { group: '', version: 'v1', plural: 'pods', kind: 'Pod' };

/** The attempt a transfer Pod is (its label), 0 when it has none. */
export function attemptOf(pod: V1Pod): number {
  const n = Number(pod.metadata?.labels?.[ATTEMPT_LABEL]);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** A Pod whose container can run no more: it holds no slot. */
export function podEnded(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** Results remembered as taken; the oldest are forgotten past this (by then their images are in status). */
const TAKEN_RESULTS = 10_000;

export class TransferPods {
  private readonly taken = new Set<string>();

  constructor(
    private readonly core: CoreV1Api,
    private readonly cache: ObjectCache<V1Pod>,
  ) {}

  /**
   * True the first time an ended Pod's result is taken. A second reconcile can read the Pod's
   * result before our status write (its images) reaches the ServerImage cache: its metrics
   * and its log line count once. (A restarted operator finds those images in status.)
   */
  firstTake(pod: V1Pod): boolean {
    const uid = pod.metadata?.uid ?? `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    if (this.taken.has(uid)) return false;
    this.taken.add(uid);
    if (this.taken.size > TAKEN_RESULTS) this.taken.delete(this.taken.values().next().value!);
    return true;
  }

  /** The ServerImage's transfer Pods, oldest attempt first. */
  of(si: ServerImageObject): V1Pod[] {
    return this.cache
      .list(si.metadata.namespace)
      .filter((pod) => isControlledBy(pod, si))
      .sort((a, b) => attemptOf(a) - attemptOf(b));
  }

  async create(pod: V1Pod): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    await apiCall(
      `creating transfer Pod ${namespace}/${pod.metadata!.name}`,
      () => this.core.createNamespacedPod({ namespace, body: pod }),
      isAlreadyExists,
    );
  }

  /** Deletes one Pod; true when it was there. The Pod gets its grace period to cancel its upload. */
  async delete(pod: V1Pod): Promise<boolean> {
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    if (pod.metadata?.deletionTimestamp) return true;
    const done = await apiCall(
      `deleting transfer Pod ${namespace}/${name}`,
      () => this.core.deleteNamespacedPod({ namespace, name }),
      isNotFound,
    );
    return done !== undefined;
  }

  /** Deletes every transfer Pod of the ServerImage; returns those still there (being stopped). */
  async deleteAll(si: ServerImageObject): Promise<V1Pod[]> {
    const pods = this.of(si);
    await Promise.all(pods.map((pod) => this.delete(pod)));
    return pods;
  }

  /**
   * The node of the export's exporter Pod (KubeVirt names it virt-export-<export>), to
   * prefer it for the transfer Pod; undefined when it cannot be read (only a preference).
   */
  async exporterNode(namespace: string, exportName: string): Promise<string | undefined> {
    try {
      const pod = await this.core.readNamespacedPod({ namespace, name: `virt-export-${exportName}` });
      return pod.spec?.nodeName ?? undefined;
    } catch {
      return undefined;
    }
  }
}
