// Plays KubeVirt's export controller (pkg/storage/export/export): a
// VirtualMachineExport of a PersistentVolumeClaim, a VirtualMachine (only while it is
// stopped, else Pending/InUse) or a VirtualMachineSnapshot (PVCs restored from its
// VolumeSnapshots, condition VolumesCreated) becomes Ready with a token Secret,
// serviceName, ttlExpirationTime and links to its own real virt-exportserver
// (export-servers.ts), which it starts where KubeVirt would create the exporter Pod and
// stops when the export goes (deleted, expired, or its source no longer available).
// Deviation: no exporter Pod or Service objects are made (the server is a local
// process) and the links point at https://127.0.0.1:PORT/volumes/<pvc>/..., because
// virt-export-<name>.<ns>.svc cannot resolve here.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { Ann, faultValue } from './annotations.js';
import {
  VM_EXPORT,
  ignoreNotFound,
  isApiError,
  keyOf,
  ownedBy,
  ownerReference,
  type Client,
  type Obj,
} from './api.js';
import { sameConditions, withTimes, type Condition } from './conditions.js';
import type { Informers } from './informers.js';
import { sameJson } from './same.js';
import { parseGoDuration } from './snapshot-controller.js';
import type { ExportServers, ServedExport } from './export-servers.js';
import { gzipUri, rawUri } from './virt-exportserver.js';
import type { VmChangeFault } from './vm-change.js';
import { claimNameOf, vmVolumes } from './volumes.js';
import { WorkQueue, type Logger } from './work-queue.js';

interface SourceVolumes {
  /** link volume name -> PVC */
  volumes: Array<{ name: string; pvc: k8s.V1PersistentVolumeClaim }>;
  /** set when the export cannot be Ready yet */
  notReady?: { reason: string; message: string };
  extraConditions: Condition[];
  vmName?: string;
}

const DEFAULT_TTL = '2h';
const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomToken(length = 20): string {
  return [...randomBytes(length)].map((b) => TOKEN_ALPHABET[b % TOKEN_ALPHABET.length]).join('');
}

const DOWN = new Set([
  '',
  'Stopped',
  'ErrorUnschedulable',
  'CrashLoopBackOff',
  'ErrorPvcNotFound',
  'DataVolumeError',
]);

export class ExportController {
  readonly queue: WorkQueue;

  constructor(
    private readonly client: Client,
    private readonly informers: Informers,
    private readonly vmChange: VmChangeFault,
    private readonly servers: ExportServers,
    /** The file holding a PVC's bytes. */
    private readonly fileOf: (namespace: string, pvcName: string) => string | undefined,
    private readonly caPem: string,
    log: Logger,
  ) {
    this.queue = new WorkQueue('vmexport', (key) => this.reconcile(key), log);
    informers.exports.on('add', (o) => this.queue.add(keyOf(o)));
    informers.exports.on('update', (o) => this.queue.add(keyOf(o)));
    informers.exports.on('delete', (o) => {
      // The reconcile stops the export's server; the garbage collector's part is here.
      this.queue.add(keyOf(o));
      void this.cleanUp(o).catch((err) => log(`vmexport ${keyOf(o)} cleanup`, err));
    });
    const requeueNamespace = (ns?: string) => {
      for (const e of informers.exports.list(ns)) this.queue.add(keyOf(e));
    };
    informers.vms.on('change', (o) => requeueNamespace(o.metadata.namespace));
    informers.snapshots.on('change', (o) => requeueNamespace(o.metadata.namespace));
    informers.pvcs.on('change', (o) => requeueNamespace(o.metadata?.namespace));
  }

  private async reconcile(key: string): Promise<number | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const exp = this.informers.exports.get(name, namespace);
    if (!exp || exp.metadata.deletionTimestamp) return this.servers.stop(key);
    const created = new Date(exp.metadata.creationTimestamp as unknown as string).getTime();
    const expires = created + parseGoDuration(exp.spec?.ttlDuration ?? DEFAULT_TTL);
    if (expires <= Date.now()) {
      await this.servers.stop(key);
      await this.client.delete(VM_EXPORT, namespace, name);
      return;
    }
    const source = await this.sourceVolumes(exp);
    const vm = source.vmName ? this.informers.vms.get(source.vmName, namespace) : undefined;
    let notReady = source.notReady;
    if (!notReady && faultValue(Ann.faultExport, exp, vm) === 'never-ready') {
      notReady = { reason: 'PodPending', message: '' };
    }

    let tokenSecretRef: string | undefined = exp.spec?.tokenSecretRef ?? exp.status?.tokenSecretRef;
    let token: string | undefined;
    if (!notReady) {
      tokenSecretRef ??= `export-token-${name}`;
      token = await this.token(exp, tokenSecretRef);
      if (token === undefined)
        notReady = { reason: 'PodPending', message: `secret ${tokenSecretRef} not found` };
    }

    const served = notReady ? undefined : this.servedExport(exp, source, token!, expires);
    if (!notReady && !served) notReady = { reason: 'PodPending', message: 'a volume has no bytes yet' };
    // Where KubeVirt creates the exporter Pod and waits for its readiness probe (or,
    // when the export is not Ready, deletes the Pod and keeps the Service).
    const baseUrl = served ? await this.servers.ensure(served) : undefined;
    if (!baseUrl) await this.servers.pause(key);

    const allBound = source.volumes.every((v) => v.pvc.status?.phase === 'Bound');
    const pvcCondition: Condition =
      source.volumes.length === 0
        ? { type: 'PVCReady', status: 'False', reason: 'Unknown' }
        : allBound
          ? { type: 'PVCReady', status: 'True', reason: 'PVCBound' }
          : { type: 'PVCReady', status: 'False', reason: 'PVCPending' };
    const ready = !notReady;
    const readyCondition: Condition = ready
      ? { type: 'Ready', status: 'True', reason: 'PodReady' }
      : { type: 'Ready', status: 'False', reason: notReady!.reason, message: notReady!.message };
    const conditions = withTimes(exp.status?.conditions, [
      readyCondition,
      pvcCondition,
      ...source.extraConditions,
    ]);
    const status = {
      phase: ready ? 'Ready' : 'Pending',
      conditions,
      serviceName: `virt-export-${name}`,
      tokenSecretRef: tokenSecretRef ?? null,
      ttlExpirationTime: new Date(expires).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      virtualMachineName: source.vmName ?? null,
      links: baseUrl
        ? {
            internal: {
              cert: this.caPem,
              // The link's volume name is the source PVC's; the URL names the PVC served
              // (for a snapshot, the restored <export>-<pvc>), as in KubeVirt's populateLink.
              volumes: source.volumes.map((v) => ({
                name: v.name,
                formats: [
                  { format: 'raw', url: `${baseUrl}${rawUri(v.pvc.metadata!.name!)}` },
                  { format: 'gzip', url: `${baseUrl}${gzipUri(v.pvc.metadata!.name!)}` },
                ],
              })),
            },
          }
        : {},
    };

    if (this.changed(exp.status, status)) {
      await this.client.patchStatus(VM_EXPORT, namespace, name, status);
    }
    if (ready) await this.vmChange.fire(namespace, source.vmName, 'export-ready', exp.metadata.uid);
    return Math.min(expires - Date.now(), 3_600_000);
  }

  /** What the export's server serves; undefined while a volume's file is not there yet. */
  private servedExport(
    exp: Obj,
    source: SourceVolumes,
    token: string,
    expires: number,
  ): ServedExport | undefined {
    const { namespace, name, uid } = exp.metadata;
    const volumes = [];
    for (const v of source.volumes) {
      const pvcName = v.pvc.metadata!.name!;
      const file = this.fileOf(namespace, pvcName);
      if (!file || !existsSync(file)) return undefined;
      volumes.push({ pvcName, file, block: v.pvc.spec?.volumeMode === 'Block' });
    }
    return { namespace, name, uid, token, vmName: source.vmName, volumes, deadline: new Date(expires) };
  }

  private changed(old: Obj['status'], next: Record<string, unknown>): boolean {
    if (!old) return true;
    const { conditions: a, ...restOld } = old;
    const { conditions: b, ...restNext } = next as { conditions: Condition[] };
    // Key order differs between what was written and what is read back (same.ts).
    return !sameConditions(a, b) || !sameJson(restOld, restNext);
  }

  /** The token from the export's Secret; creates export-token-<name> (owned by the export) when it is ours to make. */
  private async token(exp: Obj, secretName: string): Promise<string | undefined> {
    const { namespace } = exp.metadata;
    const existing = await ignoreNotFound(
      this.client.core.readNamespacedSecret({ namespace, name: secretName }),
    );
    if (existing) return Buffer.from(existing.data?.token ?? '', 'base64').toString();
    if (exp.spec?.tokenSecretRef) return undefined;
    const token = randomToken();
    try {
      await this.client.core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: secretName, namespace, ownerReferences: [ownerReference(exp, VM_EXPORT)] },
          type: 'Opaque',
          data: { token: Buffer.from(token).toString('base64') },
        },
      });
      return token;
    } catch (err) {
      if (!isApiError(err, 409)) throw err;
      return this.token(exp, secretName);
    }
  }

  private async sourceVolumes(exp: Obj): Promise<SourceVolumes> {
    const { namespace } = exp.metadata;
    const kind: string = exp.spec?.source?.kind ?? '';
    const sourceName: string = exp.spec?.source?.name ?? '';
    if (kind === 'PersistentVolumeClaim') return this.fromPvc(namespace, sourceName);
    if (kind === 'VirtualMachine') return this.fromVm(namespace, sourceName);
    if (kind === 'VirtualMachineSnapshot') return this.fromSnapshot(exp, sourceName);
    return {
      volumes: [],
      extraConditions: [],
      notReady: { reason: 'Unknown', message: `unsupported source kind ${kind}` },
    };
  }

  private runningVmUsing(namespace: string, pvcName: string): Obj | undefined {
    return this.informers.vms
      .list(namespace)
      .find(
        (vm) =>
          !DOWN.has(vm.status?.printableStatus ?? '') &&
          vmVolumes(vm).some((v) => claimNameOf(v) === pvcName),
      );
  }

  private fromPvc(namespace: string, name: string): SourceVolumes {
    const pvc = this.informers.pvcs.get(name, namespace);
    if (!pvc) {
      return {
        volumes: [],
        extraConditions: [],
        notReady: { reason: 'PVCNotFound', message: `pvc ${namespace}/${name} not found` },
      };
    }
    const user = this.runningVmUsing(namespace, name);
    return {
      volumes: [{ name, pvc }],
      extraConditions: [],
      notReady: user ? { reason: 'InUse', message: `pvc ${namespace}/${name} is in use` } : undefined,
    };
  }

  private fromVm(namespace: string, name: string): SourceVolumes {
    const vm = this.informers.vms.get(name, namespace);
    if (!vm) {
      return {
        volumes: [],
        extraConditions: [],
        vmName: name,
        notReady: { reason: 'VMNotFound', message: `Virtual Machine ${namespace}/${name} not found` },
      };
    }
    const volumes = vmVolumes(vm)
      .map((v) => claimNameOf(v))
      .filter((c): c is string => Boolean(c))
      .map((c) => this.informers.pvcs.get(c, namespace))
      .filter((p): p is k8s.V1PersistentVolumeClaim => Boolean(p))
      .map((pvc) => ({ name: pvc.metadata!.name!, pvc }));
    let notReady: SourceVolumes['notReady'];
    if (volumes.length === 0) {
      notReady = { reason: 'VMNoVolumes', message: `Virtual Machine ${namespace}/${name} has no volumes` };
    } else if (!DOWN.has(vm.status?.printableStatus ?? '')) {
      notReady = { reason: 'InUse', message: `Virtual Machine ${namespace}/${name} is running` };
    }
    return { volumes, extraConditions: [], vmName: name, notReady };
  }

  private async fromSnapshot(exp: Obj, snapshotName: string): Promise<SourceVolumes> {
    const { namespace, name } = exp.metadata;
    const snap = this.informers.snapshots.get(snapshotName, namespace);
    const noSnapshots = `VirtualMachineSnapshot ${namespace}/${snapshotName} does not contain any volume snapshots`;
    if (!snap) {
      return {
        volumes: [],
        extraConditions: [
          { type: 'VolumesCreated', status: 'False', reason: 'NoVolumeSnapshot', message: noSnapshots },
        ],
        notReady: {
          reason: 'VMSnapshotNotFound',
          message: `VirtualMachineSnapshot ${namespace}/${snapshotName} not found`,
        },
      };
    }
    const vmName: string | undefined = snap.spec?.source?.name;
    const content = snap.status?.virtualMachineSnapshotContentName
      ? this.informers.contents.get(snap.status.virtualMachineSnapshotContentName, namespace)
      : undefined;
    if (snap.status?.readyToUse !== true || !content) {
      return {
        volumes: [],
        vmName,
        extraConditions: [
          { type: 'VolumesCreated', status: 'False', reason: 'NotAllPVCsCreated', message: noSnapshots },
        ],
        notReady: { reason: 'NotAllPVCsCreated', message: noSnapshots },
      };
    }
    const volumes: SourceVolumes['volumes'] = [];
    for (const backup of content.spec?.volumeBackups ?? []) {
      const sourcePvc: string = backup.persistentVolumeClaim.metadata.name;
      const restoreName = `${name}-${sourcePvc}`;
      const pvc =
        this.informers.pvcs.get(restoreName, namespace) ?? (await this.restorePvc(exp, restoreName, backup));
      volumes.push({ name: sourcePvc, pvc });
    }
    const allBound = volumes.length > 0 && volumes.every((v) => v.pvc.status?.phase === 'Bound');
    const volumesCreated: Condition = allBound
      ? { type: 'VolumesCreated', status: 'True', reason: 'AllPVCsReady' }
      : {
          type: 'VolumesCreated',
          status: 'False',
          reason: 'NotAllPVCsReady',
          message: 'Not all PVCs are ready',
        };
    return {
      volumes,
      vmName,
      extraConditions: [volumesCreated],
      notReady: allBound ? undefined : { reason: 'Initializing', message: '' },
    };
  }

  /** A PVC restored from a VolumeSnapshot (as snapshot.CreateRestorePVCDef), owned by the export. */
  private async restorePvc(
    exp: Obj,
    name: string,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    backup: any,
  ): Promise<k8s.V1PersistentVolumeClaim> {
    const { namespace } = exp.metadata;
    const spec = backup.persistentVolumeClaim.spec ?? {};
    try {
      return await this.client.core.createNamespacedPersistentVolumeClaim({
        namespace,
        body: {
          metadata: {
            name,
            namespace,
            annotations: { 'cdi.kubevirt.io/storage.contentType': 'kubevirt' },
            ownerReferences: [ownerReference(exp, VM_EXPORT)],
          },
          spec: {
            accessModes: spec.accessModes ?? ['ReadWriteOnce'],
            resources: spec.resources,
            storageClassName: spec.storageClassName,
            volumeMode: spec.volumeMode,
            dataSource: {
              apiGroup: 'snapshot.storage.k8s.io',
              kind: 'VolumeSnapshot',
              name: backup.volumeSnapshotName,
            },
          },
        },
      });
    } catch (err) {
      if (!isApiError(err, 409)) throw err;
      return this.client.core.readNamespacedPersistentVolumeClaim({ namespace, name });
    }
  }

  /** What the garbage collector would remove with the export: its token Secret and restored PVCs. */
  private async cleanUp(exp: Obj): Promise<void> {
    const { namespace, name, uid } = exp.metadata;
    const secretName = `export-token-${name}`;
    const secret = await ignoreNotFound(
      this.client.core.readNamespacedSecret({ namespace, name: secretName }),
    );
    if (secret && ownedBy(secret, uid)) {
      await ignoreNotFound(this.client.core.deleteNamespacedSecret({ namespace, name: secretName }));
    }
    for (const pvc of this.informers.pvcs.list(namespace)) {
      if (ownedBy(pvc, uid)) {
        await ignoreNotFound(
          this.client.core.deleteNamespacedPersistentVolumeClaim({ namespace, name: pvc.metadata!.name! }),
        );
      }
    }
  }
}
