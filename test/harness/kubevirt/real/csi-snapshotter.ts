// The simulator as what runs beside a CSI driver and the driver itself: external-snapshotter's
// csi-snapshotter sidecar and its CreateSnapshot/DeleteSnapshot. The real snapshot-controller
// (snapshot-controller.ts) makes a VolumeSnapshotContent for each VolumeSnapshot; for one of
// our driver's, this takes the snapshot (a hard link of the volume's disk file,
// ../disk-store.ts) and writes the content's status as the sidecar does (snapshotHandle,
// readyToUse, creationTime in ns, restoreSize in bytes); snapshot-controller then fills the
// VolumeSnapshot's. A content being deleted loses its snapshot and then its finalizer.
// fault-vm-change (vm-changes.ts): snapshot-start when it first sees a content of a VM's
// VolumeSnapshot, before it cuts; snapshot-done right after it wrote readyToUse.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Ann, faultValue } from '../annotations.js';
import type { Client, Obj } from '../api.js';
import type { DiskStore } from '../disk-store.js';
import type { Informers } from '../informers.js';
import { WorkQueue, type Logger } from '../work-queue.js';
import type { VmChanges } from './vm-changes.js';
import { startWatching } from './watch.js';

const CONTENTS = {
  group: 'snapshot.storage.k8s.io',
  version: 'v1',
  plural: 'volumesnapshotcontents',
} as const;
/** Put on by snapshot-controller, taken off by the sidecar once the snapshot is deleted. */
const CONTENT_FINALIZER = 'snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection';
/** snapshot-controller's word that the content may go (its VolumeSnapshot is being deleted). */
const BEING_DELETED = 'snapshot.storage.kubernetes.io/volumesnapshot-being-deleted';
/** How often a snapshot the driver holds back (fault-snapshot) is looked at again, as the sidecar's requeue. */
const RECHECK_MS = 1000;

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

/** A volume's id for the driver: its disk file, relative to the simulator's data folder. */
export const volumeHandleOf = (disks: DiskStore, file: string): string => path.relative(disks.dataDir, file);

export class CsiSnapshotter {
  readonly queue: WorkQueue;
  private readonly contents: k8s.Informer<Obj> & k8s.ObjectCache<Obj>;
  private stopWatching?: () => Promise<void>;

  constructor(
    kc: k8s.KubeConfig,
    private readonly client: Client,
    private readonly informers: Informers,
    private readonly disks: DiskStore,
    private readonly driver: string,
    log: Logger,
    private readonly vmChanges?: VmChanges,
  ) {
    this.queue = new WorkQueue('csi-snapshotter', (name) => this.sync(name), log);
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    this.contents = k8s.makeInformer<Obj>(
      kc,
      `/apis/${CONTENTS.group}/${CONTENTS.version}/${CONTENTS.plural}`,
      () => api.listClusterCustomObject(CONTENTS),
    );
    this.contents.on('add', (o) => this.queue.add(o.metadata.name));
    this.contents.on('update', (o) => this.queue.add(o.metadata.name));
  }

  async start(): Promise<void> {
    this.stopWatching = await startWatching(this.contents);
  }

  async stop(): Promise<void> {
    await this.stopWatching?.();
    await this.queue.stop();
  }

  private async sync(name: string): Promise<number | void> {
    const content = this.contents.get(name);
    if (!content || content.spec?.driver !== this.driver) return;
    const ref = content.spec.volumeSnapshotRef as { namespace: string; name: string; uid: string };
    if (content.metadata.deletionTimestamp) {
      if (!content.metadata.annotations?.[BEING_DELETED]) return;
      // DeleteSnapshot, then the finalizer (deletionPolicy Retain keeps the snapshot).
      if (content.spec.deletionPolicy === 'Delete') {
        await this.disks.removeByUid('volumesnapshots', ref.namespace, ref.uid);
      }
      return this.removeFinalizer(content);
    }
    const volumeHandle = content.spec.source?.volumeHandle as string | undefined;
    if (!volumeHandle || content.status?.readyToUse === true) return;
    return this.createSnapshot(content, ref, volumeHandle);
  }

  /** CreateSnapshot through the sidecar: the fault switch is the driver's answer. */
  private async createSnapshot(
    content: Obj,
    ref: { namespace: string; name: string; uid: string },
    volumeHandle: string,
  ): Promise<number | void> {
    // fault-snapshot on the VolumeSnapshot or its VM (labelled by virt-controller).
    const vs = this.informers.volumeSnapshots.get(ref.name, ref.namespace);
    const vmName = vs?.metadata.labels?.['snapshot.kubevirt.io/source-vm-name'];
    const vm = vmName ? this.informers.vms.get(vmName, ref.namespace) : undefined;
    // fault-vm-change, once per VM snapshot (the VolumeSnapshots' owner, its content).
    const vmSnapshotUid = vs?.metadata.ownerReferences?.[0]?.uid ?? ref.uid;
    if (!content.status?.snapshotHandle) await this.vmChanges?.fire(vm, 'snapshot-start', vmSnapshotUid);
    const fault = faultValue(Ann.faultSnapshot, vs, vm);
    const snapshotHandle = `snapshot-${ref.uid}`; // the name the sidecar gives CreateSnapshot
    if (fault === 'fail') {
      // The sidecar's words for a driver error, which snapshot-controller copies to the VolumeSnapshot.
      const driverMessage = faultValue(Ann.faultSnapshotMessage, vs, vm) ?? 'snapshot failed';
      const message = `Failed to create snapshot: failed to take snapshot of the volume ${volumeHandle}: "rpc error: code = Internal desc = ${driverMessage}"`;
      if (content.status?.error?.message !== message) {
        await this.patchStatus(content.metadata.name, {
          readyToUse: false,
          error: { message, time: new Date().toISOString() },
        });
      }
      return RECHECK_MS; // the sidecar retries CreateSnapshot
    }
    const from = path.join(this.disks.dataDir, volumeHandle);
    if (!existsSync(from))
      throw new Error(`volume ${volumeHandle} of ${content.metadata.name}: no disk file`);
    // Cut once: a snapshot held back by `hang` keeps the bytes of its moment.
    if (!content.status?.snapshotHandle) {
      const to = this.disks.volumeSnapshotFile(ref.namespace, ref.name, ref.uid);
      await this.disks.freeze(from, to);
    }
    // hang: the driver has cut the snapshot but never reports it ready (an upload that never ends).
    const ready = fault !== 'hang';
    await this.patchStatus(content.metadata.name, {
      snapshotHandle,
      readyToUse: ready,
      creationTime: content.status?.creationTime ?? Date.now() * 1_000_000,
      restoreSize: statSync(from).size,
      error: ready ? null : content.status?.error,
    });
    if (ready) await this.vmChanges?.fire(vm, 'snapshot-done', vmSnapshotUid);
    return ready ? undefined : RECHECK_MS;
  }

  private async patchStatus(name: string, status: object): Promise<void> {
    await this.client.custom.patchClusterCustomObjectStatus(
      { ...CONTENTS, name, body: { status }, fieldValidation: 'Strict' },
      mergePatch,
    );
  }

  private async removeFinalizer(content: Obj): Promise<void> {
    const current = content.metadata.finalizers ?? [];
    if (!current.includes(CONTENT_FINALIZER)) return;
    await this.client.custom.patchClusterCustomObject(
      {
        ...CONTENTS,
        name: content.metadata.name,
        body: [
          { op: 'test', path: '/metadata/finalizers', value: current },
          {
            op: 'replace',
            path: '/metadata/finalizers',
            value: current.filter((f) => f !== CONTENT_FINALIZER),
          },
        ],
      },
      jsonPatch,
    );
  }
}
