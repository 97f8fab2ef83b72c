// Plays CDI's DataVolume controllers (pkg/controller/datavolume, v1.65) and the importer /
// cloner pods they start: a DataVolume makes its PVC (same name, owned by the DataVolume),
// waits for it to bind, then populates it and walks CDI's phases:
//   Pending -> ImportScheduled -> ImportInProgress (progress "N.NN%") -> Succeeded ("100.0%")
// (CloneScheduled / CloneInProgress for a pvc source), with CDI's Bound / Ready / Running
// conditions. Sources: blank (zeros), pvc (a copy of the source PVC's bytes) and registry
// (a pluggable importer, registry-import.ts). A failed import keeps its phase, counts
// restartCount and is retried with backoff, as CDI does with a failing importer pod.
// Claim adoption (CDI's validatePVC): a DataVolume annotated allowClaimAdoption=true, as
// virt-controller makes one for a dataVolumeTemplate whose PVC exists already, takes that
// PVC (owner reference) as it is and is Succeeded without an import.
// Deviations: no importer Pods, no volume populators (PVC prime), no StorageProfiles (the
// `storage` API defaults to ReadWriteOnce/Filesystem), no filesystem overhead.
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as k8s from '@kubernetes/client-node';
import { parseByteQuantity, sha256File } from '../disks.js';
import { Ann } from './annotations.js';
import { DATA_VOLUME, isApiError, keyOf, ownedBy, ownerReference, type Client, type Obj } from './api.js';
import type { DiskStore } from './disk-store.js';
import type { Informers } from './informers.js';
import { reachableRegistryUrl, type RegistryImporter } from './registry-import.js';
import { WorkQueue, type Logger } from './work-queue.js';

/** PVC annotations CDI's controllers set (pkg/controller/common). */
export const CdiAnn = {
  createdForDataVolume: 'cdi.kubevirt.io/createdForDataVolume',
  contentType: 'cdi.kubevirt.io/storage.contentType',
  importSource: 'cdi.kubevirt.io/storage.import.source',
  importEndpoint: 'cdi.kubevirt.io/storage.import.endpoint',
  cloneRequest: 'k8s.io/CloneRequest',
  podPhase: 'cdi.kubevirt.io/storage.pod.phase',
  allowClaimAdoption: 'cdi.kubevirt.io/allowClaimAdoption',
} as const;

/** strconv.ParseBool's true, as CDI reads the adoption annotation. */
const isGoTrue = (value: string | undefined) => /^(1|t|T|TRUE|true|True)$/.test(value ?? '');

/** The Running condition: the importer/cloner pod's state. */
interface Run {
  status: 'True' | 'False';
  reason?: string;
  message?: string;
}
const NOT_RUNNING: Run = { status: 'False' };

interface DvCondition {
  type: 'Bound' | 'Ready' | 'Running';
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
}

type Source =
  | { kind: 'blank' }
  | { kind: 'pvc'; namespace: string; name: string }
  | { kind: 'registry'; url: string; certConfigMap?: string; secretRef?: string };

function sourceOf(dv: Obj): Source | undefined {
  const s = dv.spec?.source ?? {};
  if (s.blank) return { kind: 'blank' };
  if (s.pvc) return { kind: 'pvc', namespace: s.pvc.namespace ?? dv.metadata.namespace, name: s.pvc.name };
  if (s.registry?.url) {
    return {
      kind: 'registry',
      url: s.registry.url,
      certConfigMap: s.registry.certConfigMap,
      secretRef: s.registry.secretRef,
    };
  }
  return undefined;
}

/** An API time: RFC 3339 in whole seconds, as Go's metav1.Time encodes it. */
const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** CDI's condition update: times move only when the status does (conditions.go, updateCondition). */
function conditionsFor(previous: DvCondition[] | undefined, next: DvCondition[]): DvCondition[] {
  const time = now();
  return next.map((c) => {
    const old = (previous ?? []).find((p) => p.type === c.type);
    if (old && old.status === c.status) {
      const same = (old.reason ?? '') === (c.reason ?? '') && (old.message ?? '') === (c.message ?? '');
      return {
        ...c,
        lastTransitionTime: old.lastTransitionTime,
        lastHeartbeatTime: same ? old.lastHeartbeatTime : time,
      };
    }
    return { ...c, lastTransitionTime: time, lastHeartbeatTime: time };
  });
}

const strip = (l: DvCondition[] | undefined) =>
  JSON.stringify((l ?? []).map((c) => [c.type, c.status, c.reason ?? '', c.message ?? '']));

export class DataVolumeController {
  readonly queue: WorkQueue;
  /** DataVolume UIDs whose population is running. */
  private readonly jobs = new Set<string>();
  /** DataVolume UIDs populated (before the PVC's annotation reaches the cache). */
  private readonly populated = new Set<string>();
  /** Failed populations per DataVolume UID (status.restartCount). */
  private readonly restarts = new Map<string, number>();

  constructor(
    private readonly client: Client,
    private readonly informers: Informers,
    private readonly disks: DiskStore,
    private readonly importer: RegistryImporter,
    private readonly hostAliases: Record<string, string>,
    private readonly log: Logger,
  ) {
    this.queue = new WorkQueue('datavolume', (key) => this.reconcile(key), log);
    informers.dataVolumes.on('add', (o) => this.queue.add(keyOf(o)));
    informers.dataVolumes.on('update', (o) => this.queue.add(keyOf(o)));
    informers.dataVolumes.on(
      'delete',
      (o) => void this.collect(o).catch((e) => log(`datavolume ${keyOf(o)} gc`, e)),
    );
    // Only the DataVolume a PVC belongs to (same name) cares about its changes, and the
    // clones waiting for it as their source.
    informers.pvcs.on('change', (pvc) => {
      const ns = pvc.metadata?.namespace;
      const name = pvc.metadata?.name;
      if (informers.dataVolumes.get(name!, ns)) this.queue.add(`${ns}/${name}`);
      for (const dv of informers.dataVolumes.list()) {
        const s = sourceOf(dv);
        if (s?.kind === 'pvc' && s.namespace === ns && s.name === name && dv.status?.phase !== 'Succeeded')
          this.queue.add(keyOf(dv));
      }
    });
  }

  private async reconcile(key: string): Promise<number | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const dv = this.informers.dataVolumes.get(name, namespace);
    if (!dv || dv.metadata.deletionTimestamp) return;
    const source = sourceOf(dv);
    const clone = source?.kind === 'pvc';
    let pvc = this.informers.pvcs.get(name, namespace);
    if (!source) {
      return this.writeStatus(dv, 'Pending', pvc, {
        status: 'False',
        reason: 'Error',
        message: 'unsupported DataVolume source',
      });
    }
    if (!pvc) {
      pvc = await this.createPvc(dv, source);
      if (!pvc) return 1000; // clone source not there yet: CDI waits for it
    }
    if (!ownedBy(pvc, dv.metadata.uid) && (await this.adopt(dv, pvc))) return;
    if (!ownedBy(pvc, dv.metadata.uid)) {
      return this.writeStatus(dv, 'Pending', pvc, {
        status: 'False',
        reason: 'ErrResourceExists',
        message: `Resource "${name}" already exists and is not managed by DataVolume`,
      });
    }
    if (pvc.status?.phase !== 'Bound') return this.writeStatus(dv, 'Pending', pvc, NOT_RUNNING);
    if (this.populated.has(dv.metadata.uid) || pvc.metadata?.annotations?.[CdiAnn.podPhase] === 'Succeeded') {
      return this.writeStatus(dv, 'Succeeded', pvc, {
        status: 'False',
        reason: 'Completed',
        message: clone ? 'Clone Complete' : 'Import Complete',
      });
    }
    if (this.jobs.has(dv.metadata.uid)) return;
    // A restarted importer pod keeps the DataVolume in its InProgress phase.
    if (!this.restarts.get(dv.metadata.uid)) {
      await this.writeStatus(dv, clone ? 'CloneScheduled' : 'ImportScheduled', pvc, NOT_RUNNING);
    }
    this.jobs.add(dv.metadata.uid);
    void this.populate(dv, pvc, source).finally(() => {
      this.jobs.delete(dv.metadata.uid);
      this.queue.add(key);
    });
  }

  /**
   * CDI's claim adoption: the PVC, controlled by nothing else, becomes the DataVolume's and
   * counts as populated (the PVC's update requeues the DataVolume, which is then Succeeded).
   */
  private async adopt(dv: Obj, pvc: k8s.V1PersistentVolumeClaim): Promise<boolean> {
    if (!isGoTrue(dv.metadata.annotations?.[CdiAnn.allowClaimAdoption])) return false;
    const owners = pvc.metadata?.ownerReferences ?? [];
    if (owners.some((o) => o.controller)) return false;
    this.populated.add(dv.metadata.uid);
    await this.client.patchPvc(dv.metadata.namespace, dv.metadata.name, {
      metadata: { ownerReferences: [...owners, ownerReference(dv, DATA_VOLUME)] },
    });
    return true;
  }

  /** The PVC as CDI renders it from spec.pvc (as is) or spec.storage (with defaults). */
  private async createPvc(dv: Obj, source: Source): Promise<k8s.V1PersistentVolumeClaim | undefined> {
    const { namespace, name } = dv.metadata;
    const given = dv.spec?.pvc ?? dv.spec?.storage ?? {};
    let storage: string | undefined = given.resources?.requests?.storage;
    if (!storage && source.kind === 'pvc') {
      const sourcePvc = this.informers.pvcs.get(source.name, source.namespace);
      if (!sourcePvc) return undefined;
      storage = sourcePvc.spec?.resources?.requests?.storage;
    }
    const annotations: Record<string, string> = {
      [CdiAnn.createdForDataVolume]: dv.metadata.uid,
      [CdiAnn.contentType]: dv.spec?.contentType ?? 'kubevirt',
    };
    if (source.kind === 'pvc') annotations[CdiAnn.cloneRequest] = `${source.namespace}/${source.name}`;
    else annotations[CdiAnn.importSource] = source.kind === 'blank' ? 'none' : 'registry';
    if (source.kind === 'registry') annotations[CdiAnn.importEndpoint] = source.url;
    try {
      return await this.client.core.createNamespacedPersistentVolumeClaim({
        namespace,
        body: {
          metadata: {
            name,
            namespace,
            labels: {
              ...dv.metadata.labels,
              app: 'containerized-data-importer',
              'app.kubernetes.io/component': 'storage',
              'app.kubernetes.io/managed-by': 'cdi-controller',
            },
            annotations,
            ownerReferences: [ownerReference(dv, DATA_VOLUME)],
          },
          spec: {
            accessModes: given.accessModes ?? ['ReadWriteOnce'],
            resources: { requests: { storage: storage ?? '1Gi' } },
            storageClassName: given.storageClassName,
            volumeMode: given.volumeMode ?? 'Filesystem',
          },
        },
      });
    } catch (err) {
      if (!isApiError(err, 409)) throw err;
      return this.client.core.readNamespacedPersistentVolumeClaim({ namespace, name });
    }
  }

  /** The importer/cloner "pod": writes the disk beside the PVC's file, renames it in, marks the PVC. */
  private async populate(dv: Obj, pvc: k8s.V1PersistentVolumeClaim, source: Source): Promise<void> {
    const { namespace, name, uid } = dv.metadata;
    const inProgress = source.kind === 'pvc' ? 'CloneInProgress' : 'ImportInProgress';
    const running: Run = { status: 'True', reason: 'Pod is running' };
    const file = this.disks.pvcFile(namespace, name, pvc.metadata!.uid!);
    const tmp = `${file}.populating`;
    const size = parseByteQuantity(pvc.spec?.resources?.requests?.storage ?? '0');
    const current = () => this.informers.dataVolumes.get(name, namespace) ?? dv;
    // Progress is written at most once a second, as CDI polls the importer's metrics.
    // Writes are chained and awaited before the end, so none lands after Succeeded.
    let lastWrite = Date.now();
    let writing: Promise<void> = Promise.resolve();
    const onProgress = (percent: number) => {
      if (Date.now() - lastWrite < 1000) return;
      lastWrite = Date.now();
      writing = writing
        .then(() => this.writeStatus(current(), inProgress, pvc, running, `${percent.toFixed(2)}%`))
        .catch(() => undefined);
    };
    try {
      await this.writeStatus(current(), inProgress, pvc, running, '0.00%');
      await this.disks.prepare(file);
      if (source.kind === 'blank') {
        await writeFile(tmp, '');
        await truncate(tmp, size);
      } else if (source.kind === 'pvc') {
        await this.copyPvc(source, tmp, onProgress);
      } else {
        await this.importer({
          namespace,
          dataVolume: name,
          url: source.url,
          reachableUrl: reachableRegistryUrl(source.url, this.hostAliases),
          certConfigMap: source.certConfigMap,
          secretRef: source.secretRef,
          targetFile: tmp,
          sizeBytes: size,
          onProgress,
        });
      }
      await writing;
      await rename(tmp, file);
      await this.client.patchPvc(namespace, name, {
        metadata: {
          annotations: { [CdiAnn.podPhase]: 'Succeeded', [Ann.diskSha256]: await sha256File(file) },
        },
      });
      this.populated.add(uid);
      this.restarts.delete(uid);
    } catch (err) {
      await writing;
      await rm(tmp, { force: true });
      const restarts = (this.restarts.get(uid) ?? 0) + 1;
      this.restarts.set(uid, restarts);
      this.log(`datavolume ${namespace}/${name}: population failed (restart ${restarts})`, err);
      const message = err instanceof Error ? err.message : String(err);
      await this.writeStatus(current(), inProgress, pvc, { status: 'False', reason: 'Error', message }).catch(
        () => undefined,
      );
      // A failing importer pod restarts with the kubelet's backoff.
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** (restarts - 1), 30_000)).unref());
    }
  }

  /** A host-assisted clone: the source PVC's bytes, once it is Bound and has them. */
  private async copyPvc(
    source: { namespace: string; name: string },
    to: string,
    onProgress: (p: number) => void,
  ) {
    const sourcePvc = this.informers.pvcs.get(source.name, source.namespace);
    if (!sourcePvc || sourcePvc.status?.phase !== 'Bound')
      throw new Error(`source PVC ${source.namespace}/${source.name} is not Bound`);
    const from = this.disks.pvcFile(source.namespace, source.name, sourcePvc.metadata!.uid!);
    const total = (await stat(from)).size;
    let done = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        done += chunk.length;
        if (total > 0) onProgress((100 * done) / total);
        cb(null, chunk);
      },
    });
    await pipeline(createReadStream(from), count, createWriteStream(to));
  }

  /** DataVolume status as CDI's updateConditions makes it; written only when it changes. */
  private async writeStatus(
    dv: Obj,
    phase: string,
    pvc: k8s.V1PersistentVolumeClaim | undefined,
    run: Run,
    progress?: string,
  ): Promise<void> {
    const name = dv.metadata.name;
    const bound: DvCondition = !pvc
      ? { type: 'Bound', status: 'False', reason: 'NotFound', message: 'No PVC found' }
      : pvc.status?.phase === 'Bound'
        ? { type: 'Bound', status: 'True', reason: 'Bound', message: `PVC ${name} Bound` }
        : { type: 'Bound', status: 'False', reason: 'Pending', message: `PVC ${name} Pending` };
    const ready: DvCondition =
      phase === 'Succeeded'
        ? { type: 'Ready', status: 'True' }
        : run.status === 'True'
          ? { type: 'Ready', status: 'False', reason: 'TransferRunning' }
          : { type: 'Ready', status: 'False' };
    const old = dv.status ?? {};
    const status = {
      claimName: name,
      phase,
      progress:
        phase === 'Succeeded'
          ? '100.0%'
          : (progress ?? (phase === old.phase ? old.progress : undefined) ?? 'N/A'),
      restartCount: this.restarts.get(dv.metadata.uid) ?? 0,
      conditions: conditionsFor(old.conditions, [bound, ready, { type: 'Running', ...run }]),
    };
    const unchanged =
      old.phase === status.phase &&
      old.progress === status.progress &&
      (old.restartCount ?? 0) === status.restartCount &&
      old.claimName === status.claimName &&
      strip(old.conditions) === strip(status.conditions);
    if (!unchanged) await this.client.patchStatus(DATA_VOLUME, dv.metadata.namespace, name, status);
  }

  /** The garbage collector's part: a deleted DataVolume takes its PVC along. */
  private async collect(dv: Obj): Promise<void> {
    const pvc = this.informers.pvcs.get(dv.metadata.name, dv.metadata.namespace);
    if (pvc && ownedBy(pvc, dv.metadata.uid)) {
      await this.client.core
        .deleteNamespacedPersistentVolumeClaim({ namespace: dv.metadata.namespace, name: dv.metadata.name })
        .catch((err: unknown) => {
          if (!isApiError(err, 404)) throw err;
        });
    }
  }
}
