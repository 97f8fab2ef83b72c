// Plays KubeVirt's snapshot controller (pkg/storage/snapshot) plus a CSI snapshotter:
// VirtualMachineSnapshot -> lock the VM (status.snapshotInProgress), InProgress with
// indications, a VirtualMachineSnapshotContent, one VolumeSnapshot per snapshottable
// volume (its bytes: a frozen copy of the PVC's file), then Succeeded and unlock.
// Deletion follows the finalizers and deletionPolicy. Faults: fault-snapshot=fail|hang.
import { setTimeout as sleep } from 'node:timers/promises';
import { Ann, faultValue } from './annotations.js';
import {
  VM,
  VM_SNAPSHOT,
  VM_SNAPSHOT_CONTENT,
  VOLUME_SNAPSHOT,
  keyOf,
  ownedBy,
  ownerReference,
  type Client,
  type Obj,
} from './api.js';
import { now, sameConditions, setCondition, withTimes, type Condition } from './conditions.js';
import type { DiskStore } from './disk-store.js';
import type { Informers } from './informers.js';
import { sameJson } from './same.js';
import type { VmChangeFault } from './vm-change.js';
import { claimNameOf, vmVolumes, volumeSnapshotStatus } from './volumes.js';
import { WorkQueue, type Logger } from './work-queue.js';

export const SNAPSHOT_FINALIZER = 'snapshot.kubevirt.io/vmsnapshot-protection';
export const CONTENT_FINALIZER = 'snapshot.kubevirt.io/vmsnapshotcontent-protection';
const SOURCE_NAME_LABEL = 'snapshot.kubevirt.io/source-vm-name';
const SOURCE_NAMESPACE_LABEL = 'snapshot.kubevirt.io/source-vm-namespace';
/** The VolumeSnapshotClass the simulated CSI driver claims to use. */
export const VOLUME_SNAPSHOT_CLASS = 'sim-snapclass';

const INDICATION_MESSAGES: Record<string, string> = {
  Online: 'Snapshot taken while the VM was running. Consistency depends on guest-agent quiescing.',
  GuestAgent: 'Guest agent was active and attempted to quiesce the filesystem for application consistency.',
  NoGuestAgent:
    'Guest agent was not available. Snapshot is crash-consistent and may not be application-consistent.',
  Paused:
    'Snapshot taken while the VM was paused. Snapshot is crash-consistent and may not be application-consistent.',
};

const ONLINE = new Set(['Starting', 'Running', 'Paused', 'Migrating', 'Stopping', 'Unknown']);

/** Go duration ("5m", "1m30s", "0s") in ms. */
export function parseGoDuration(text: string): number {
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) {
    ms += Number(m[1]) * { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }[m[2] as 'h' | 'm' | 's' | 'ms'];
  }
  return ms;
}

export const contentNameOf = (snap: Obj): string =>
  snap.status?.virtualMachineSnapshotContentName ?? `vmsnapshot-content-${snap.metadata.uid}`;

function hasCondition(o: Obj | undefined, type: string): boolean {
  return (o?.status?.conditions ?? []).some((c: Condition) => c.type === type && c.status === 'True');
}

/** Online, GuestAgent/NoGuestAgent, Paused - as updateSnapshotSourceIndications decides. */
export function indicationsFor(vm: Obj): string[] {
  const status: string = vm.status?.printableStatus ?? '';
  if (!ONLINE.has(status)) return [];
  const set = new Set(['Online']);
  if (status === 'Paused') set.add('Paused');
  else if (hasCondition(vm, 'AgentConnected')) set.add('GuestAgent');
  else set.add('NoGuestAgent');
  return [...set].sort();
}

export class SnapshotController {
  readonly queue: WorkQueue;
  readonly contentQueue: WorkQueue;
  /** Snapshot UIDs that reached a final phase, so stale cache reads never redo the work. */
  private readonly finished = new Set<string>();

  constructor(
    private readonly client: Client,
    private readonly informers: Informers,
    private readonly disks: DiskStore,
    private readonly vmChange: VmChangeFault,
    private readonly stepMs: number,
    log: Logger,
  ) {
    this.queue = new WorkQueue('vmsnapshot', (key) => this.reconcile(key), log);
    this.contentQueue = new WorkQueue('vmsnapshotcontent', (key) => this.reconcileContent(key), log);
    informers.snapshots.on('add', (o) => this.queue.add(keyOf(o)));
    informers.snapshots.on('update', (o) => this.queue.add(keyOf(o)));
    informers.contents.on('update', (o) => this.contentQueue.add(keyOf(o)));
    informers.volumeSnapshots.on('delete', (vs) => {
      void this.disks.removeByUid('volumesnapshots', vs.metadata.namespace, vs.metadata.uid);
    });
    // A snapshot waiting for its VM (missing, or locked by another snapshot) goes on when the VM changes.
    informers.vms.on('change', (vm) => {
      for (const snap of informers.snapshots.list(vm.metadata.namespace)) {
        if (snap.spec?.source?.name === vm.metadata.name && !this.finished.has(snap.metadata.uid)) {
          this.queue.add(keyOf(snap));
        }
      }
    });
  }

  private async reconcile(key: string): Promise<number | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const snap = this.informers.snapshots.get(name, namespace);
    if (!snap) return;
    if (snap.metadata.deletionTimestamp) return this.finalize(snap);
    if (this.finished.has(snap.metadata.uid)) return;
    const phase = snap.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      this.finished.add(snap.metadata.uid);
      await this.unlock(snap);
      return;
    }
    await this.client.addFinalizer(VM_SNAPSHOT, snap, SNAPSHOT_FINALIZER);

    const deadlineMs = parseGoDuration(snap.spec?.failureDeadline ?? '5m');
    const leftMs =
      deadlineMs > 0
        ? new Date(snap.metadata.creationTimestamp as unknown as string).getTime() + deadlineMs - Date.now()
        : Infinity;
    if (leftMs <= 0) return this.fail(snap, 'snapshot deadline exceeded');
    const untilDeadline = Number.isFinite(leftMs) ? leftMs : undefined;

    const vm = this.informers.vms.get(snap.spec?.source?.name ?? '', namespace);
    if (!vm) {
      await this.writeProgress(snap, { status: 'False', reason: 'Source does not exist' }, undefined);
      return untilDeadline;
    }
    const lockedBy = vm.status?.snapshotInProgress;
    if (lockedBy && lockedBy !== name) {
      await this.writeProgress(snap, { status: 'False', reason: 'Source not locked' }, vm);
      return 1000;
    }
    if (lockedBy !== name)
      await this.client.patchStatus(VM, namespace, vm.metadata.name, { snapshotInProgress: name });
    await this.writeProgress(snap, { status: 'True', reason: 'Source locked and operation in progress' }, vm);
    await this.vmChange.fire(namespace, vm.metadata.name, 'snapshot-start', snap.metadata.uid);

    const fault = faultValue(Ann.faultSnapshot, snap, vm);
    if (fault === 'hang') return untilDeadline;
    await sleep(this.stepMs);
    if (fault === 'fail') {
      const message = faultValue(Ann.faultSnapshotMessage, snap, vm) ?? 'simulated snapshot failure';
      return this.fail(snap, message);
    }
    await this.takeSnapshot(snap, vm);
    await this.vmChange.fire(namespace, vm.metadata.name, 'snapshot-done', snap.metadata.uid);
  }

  /** InProgress with the indications of the moment the VM was locked (kept once written). */
  private async writeProgress(
    snap: Obj,
    progressing: Omit<Condition, 'type'>,
    vm: Obj | undefined,
  ): Promise<void> {
    const indications: string[] =
      snap.status?.phase === 'InProgress' && snap.status.indications
        ? snap.status.indications
        : vm
          ? indicationsFor(vm)
          : [];
    const conditions = withTimes(snap.status?.conditions, [
      { type: 'Progressing', ...progressing },
      { type: 'Ready', status: 'False', reason: 'Not ready' },
    ]);
    const status = {
      phase: 'InProgress',
      readyToUse: false,
      sourceUID: vm?.metadata.uid,
      conditions,
      indications: indications.length ? indications : null,
      sourceIndications: indications.length
        ? indications.map((indication) => ({ indication, message: INDICATION_MESSAGES[indication] }))
        : null,
    };
    // Reconciles come with every change of the VM (the lock is one): write only what changed.
    const old = snap.status ?? {};
    const { conditions: _a, ...restOld } = old;
    const { conditions: _b, ...restNew } = status;
    if (sameConditions(old.conditions, conditions) && sameJson(restOld, restNew)) return;
    await this.client.patchStatus(VM_SNAPSHOT, snap.metadata.namespace, snap.metadata.name, status);
  }

  private async takeSnapshot(snap: Obj, vm: Obj): Promise<void> {
    const { namespace } = snap.metadata;
    const included: Array<{ volumeName: string; pvc: NonNullable<ReturnType<Informers['pvcs']['get']>> }> =
      [];
    const allVolumes = vmVolumes(vm);
    for (const volume of allVolumes) {
      const pvc = this.informers.pvcs.get(claimNameOf(volume) ?? '', namespace);
      if (volumeSnapshotStatus(this.informers, namespace, volume).enabled && pvc?.status?.phase === 'Bound') {
        included.push({ volumeName: volume.name, pvc });
      }
    }
    const volumeBackups = included.map(({ volumeName, pvc }) => ({
      volumeName,
      persistentVolumeClaim: {
        metadata: {
          name: pvc.metadata!.name,
          namespace,
          labels: pvc.metadata!.labels,
          annotations: pvc.metadata!.annotations,
        },
        spec: pvc.spec,
      },
      volumeSnapshotName: `vmsnapshot-${snap.metadata.uid}-volume-${volumeName}`,
    }));
    const content = await this.client.ensure(VM_SNAPSHOT_CONTENT, namespace, {
      metadata: { name: contentNameOf(snap), namespace, finalizers: [CONTENT_FINALIZER] },
      spec: {
        virtualMachineSnapshotName: snap.metadata.name,
        source: {
          // KubeVirt's schema has only metadata, spec and status here (no apiVersion/kind).
          virtualMachine: {
            metadata: {
              name: vm.metadata.name,
              namespace,
              uid: vm.metadata.uid,
              generation: vm.metadata.generation,
              labels: vm.metadata.labels,
              annotations: vm.metadata.annotations,
            },
            spec: vm.spec,
          },
        },
        volumeBackups,
      },
    });

    const volumeSnapshotStatuses = [];
    for (const backup of volumeBackups) {
      const vs = await this.takeVolumeSnapshot(
        content,
        vm,
        backup.volumeSnapshotName,
        backup.persistentVolumeClaim.metadata.name!,
      );
      volumeSnapshotStatuses.push({
        volumeSnapshotName: vs.metadata.name,
        readyToUse: true,
        creationTime: vs.status?.creationTime,
      });
    }
    const creationTime = now();
    await this.client.patchStatus(VM_SNAPSHOT_CONTENT, namespace, content.metadata.name, {
      readyToUse: true,
      creationTime,
      volumeSnapshotStatus: volumeSnapshotStatuses,
    });
    const includedNames = new Set(included.map((i) => i.volumeName));
    await this.client.patchStatus(VM_SNAPSHOT, namespace, snap.metadata.name, {
      phase: 'Succeeded',
      readyToUse: true,
      creationTime,
      sourceUID: vm.metadata.uid,
      virtualMachineSnapshotContentName: content.metadata.name,
      conditions: withTimes(snap.status?.conditions, [
        { type: 'Progressing', status: 'False', reason: 'Operation complete' },
        { type: 'Ready', status: 'True', reason: 'Ready' },
      ]),
      snapshotVolumes: {
        includedVolumes: allVolumes.filter((v) => includedNames.has(v.name)).map((v) => v.name),
        excludedVolumes: allVolumes.filter((v) => !includedNames.has(v.name)).map((v) => v.name),
      },
    });
    this.finished.add(snap.metadata.uid);
    await this.unlock(snap);
  }

  /** A VolumeSnapshot owned by the content; its bytes are the PVC's file, frozen now. */
  private async takeVolumeSnapshot(content: Obj, vm: Obj, name: string, pvcName: string): Promise<Obj> {
    const { namespace } = content.metadata;
    const vs = await this.client.ensure(VOLUME_SNAPSHOT, namespace, {
      metadata: {
        name,
        namespace,
        labels: { [SOURCE_NAME_LABEL]: vm.metadata.name, [SOURCE_NAMESPACE_LABEL]: namespace },
        ownerReferences: [ownerReference(content, VM_SNAPSHOT_CONTENT)],
      },
      spec: {
        source: { persistentVolumeClaimName: pvcName },
        volumeSnapshotClassName: VOLUME_SNAPSHOT_CLASS,
      },
    });
    if (vs.status?.readyToUse === true) return vs;
    const pvc = this.informers.pvcs.get(pvcName, namespace)!;
    await this.disks.freeze(
      this.disks.pvcFile(namespace, pvcName, pvc.metadata!.uid!),
      this.disks.volumeSnapshotFile(namespace, name, vs.metadata.uid),
    );
    return this.client.patchStatus(VOLUME_SNAPSHOT, namespace, name, {
      readyToUse: true,
      creationTime: now(),
      restoreSize: pvc.status?.capacity?.storage ?? pvc.spec?.resources?.requests?.storage,
      boundVolumeSnapshotContentName: `snapcontent-${vs.metadata.uid}`,
    });
  }

  private async fail(snap: Obj, message: string): Promise<void> {
    const time = now();
    let conditions = setCondition(snap.status?.conditions, {
      type: 'Failure',
      status: 'True',
      reason: message,
    });
    conditions = setCondition(conditions, {
      type: 'Progressing',
      status: 'False',
      reason: 'Operation failed',
    });
    conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: 'Not ready' });
    await this.client.patchStatus(VM_SNAPSHOT, snap.metadata.namespace, snap.metadata.name, {
      phase: 'Failed',
      readyToUse: false,
      error: { time, message },
      conditions,
    });
    this.finished.add(snap.metadata.uid);
    await this.unlock(snap);
  }

  private async unlock(snap: Obj): Promise<void> {
    const vm = this.informers.vms.get(snap.spec?.source?.name ?? '', snap.metadata.namespace);
    if (vm && vm.status?.snapshotInProgress === snap.metadata.name) {
      await this.client.patchStatus(VM, vm.metadata.namespace, vm.metadata.name, {
        snapshotInProgress: null,
      });
    }
  }

  /** Deleting: the content goes too (deletionPolicy Delete, or never ready), then the finalizer. */
  private async finalize(snap: Obj): Promise<void> {
    if (!(snap.metadata.finalizers ?? []).includes(SNAPSHOT_FINALIZER)) return;
    const { namespace } = snap.metadata;
    const content = this.informers.contents.get(contentNameOf(snap), namespace);
    const policy = snap.spec?.deletionPolicy ?? 'Delete';
    if (content && (policy === 'Delete' || content.status?.readyToUse !== true)) {
      await this.deleteContent(content);
    }
    await this.unlock(snap);
    this.finished.add(snap.metadata.uid);
    await this.client.removeFinalizer(VM_SNAPSHOT, snap, SNAPSHOT_FINALIZER);
  }

  private async deleteContent(content: Obj): Promise<void> {
    const { namespace, name } = content.metadata;
    for (const vs of this.informers.volumeSnapshots.list(namespace)) {
      if (ownedBy(vs, content.metadata.uid))
        await this.client.delete(VOLUME_SNAPSHOT, namespace, vs.metadata.name);
    }
    await this.client.removeFinalizer(VM_SNAPSHOT_CONTENT, content, CONTENT_FINALIZER);
    await this.client.delete(VM_SNAPSHOT_CONTENT, namespace, name);
  }

  /** A content deleted on its own (kubectl delete vmsnapshotcontent) releases its volume snapshots. */
  private async reconcileContent(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const content = this.informers.contents.get(name, namespace);
    if (content?.metadata.deletionTimestamp) await this.deleteContent(content);
  }
}
