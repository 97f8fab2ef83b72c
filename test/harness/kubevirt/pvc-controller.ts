// Plays the storage side's bytes: gives every PVC a disk file, restores PVCs whose
// dataSource is a VolumeSnapshot from the snapshot's frozen file, then has the CSI
// provisioner stand-in (real/csi-volumes.ts) make its PV, which kube-controller-manager's
// PV controller binds. A PVC's bytes come from its annotations (see annotations.ts): disk-size and
// disk-seed make a deterministic disk (disks.ts) and the simulator writes the sha256
// back as disk-sha256; without disk-size the disk is all zeros of the requested size;
// disk-from copies a file's bytes (a real guest's disk) once.
import { existsSync } from 'node:fs';
import { copyFile, rename } from 'node:fs/promises';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { parseByteQuantity, writeDisk } from '../disks.js';
import { Ann } from './annotations.js';
import { keyOf, type Client } from './api.js';
import type { DiskStore } from './disk-store.js';
import type { Informers } from './informers.js';
import { WorkQueue, type Logger } from './work-queue.js';

/** How a claim whose bytes are ready gets its volume (real/csi-volumes.ts: a CSI PV). */
export interface VolumeBinder {
  bind(pvc: V1PersistentVolumeClaim, file: string): Promise<void>;
}

export class PvcController {
  readonly queue: WorkQueue;

  constructor(
    private readonly client: Client,
    private readonly informers: Informers,
    private readonly disks: DiskStore,
    log: Logger,
    private readonly volumes: VolumeBinder,
    /** Another driver's StorageClass (the real CSI driver's): its claims are left alone. */
    private readonly foreignStorageClass?: string,
  ) {
    this.queue = new WorkQueue('pvc', (key) => this.reconcile(key), log);
    informers.pvcs.on('add', (o) => this.queue.add(keyOf(o)));
    informers.pvcs.on('update', (o) => this.queue.add(keyOf(o)));
    informers.pvcs.on('delete', (o) => {
      void this.disks.removeByUid('pvcs', o.metadata!.namespace!, o.metadata!.uid!);
    });
    // A restore waits for its VolumeSnapshot to be ready.
    informers.volumeSnapshots.on('update', (vs) => {
      for (const pvc of informers.pvcs.list(vs.metadata.namespace)) {
        if (
          pvc.spec?.dataSource?.kind === 'VolumeSnapshot' &&
          pvc.spec.dataSource.name === vs.metadata.name
        ) {
          this.queue.add(keyOf(pvc));
        }
      }
    });
  }

  /** Path of the bytes of a PVC as the cache knows it (undefined if no such PVC). */
  fileOf(namespace: string, name: string): string | undefined {
    const pvc = this.informers.pvcs.get(name, namespace);
    return pvc ? this.disks.pvcFile(namespace, name, pvc.metadata!.uid!) : undefined;
  }

  private async reconcile(key: string): Promise<number | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const pvc = this.informers.pvcs.get(name, namespace);
    if (!pvc) return;
    // kube-controller-manager's pvc-protection lets a deleted claim go.
    if (pvc.metadata?.deletionTimestamp) return;
    if (this.foreignStorageClass && pvc.spec?.storageClassName === this.foreignStorageClass) return;
    const file = this.disks.pvcFile(namespace, name, pvc.metadata!.uid!);

    if (pvc.spec?.dataSource?.kind === 'VolumeSnapshot') {
      if (!existsSync(file)) {
        const vs = this.informers.volumeSnapshots.get(pvc.spec.dataSource.name, namespace);
        if (!vs || vs.status?.readyToUse !== true) return 1000;
        await this.disks.freeze(
          this.disks.volumeSnapshotFile(namespace, vs.metadata.name, vs.metadata.uid),
          file,
        );
      }
    } else if (!(pvc.metadata?.ownerReferences ?? []).some((r) => r.kind === 'DataVolume')) {
      // A DataVolume's PVC gets its bytes from the DataVolume (datavolume-controller.ts).
      await this.ensureBytes(pvc, file);
    }
    if (pvc.status?.phase !== 'Bound') await this.volumes.bind(pvc, file);
  }

  /** Makes (or remakes, when size/seed changed) the PVC's disk file. */
  private async ensureBytes(pvc: V1PersistentVolumeClaim, file: string): Promise<void> {
    const { namespace, name } = pvc.metadata as { namespace: string; name: string };
    const annotations = pvc.metadata?.annotations ?? {};
    const from = annotations[Ann.diskFrom];
    if (from) {
      // Once: the disk is a guest's from then on (it writes it in place).
      if (!existsSync(file)) {
        await this.disks.prepare(file);
        await copyFile(from, `${file}.tmp`);
        await rename(`${file}.tmp`, file);
      }
      return;
    }
    const sizeText = annotations[Ann.diskSize];
    if (!sizeText) {
      if (!existsSync(file)) {
        await this.disks.zeros(file, parseByteQuantity(pvc.spec?.resources?.requests?.storage ?? '0'));
      }
      return;
    }
    const size = parseByteQuantity(sizeText);
    const seed = annotations[Ann.diskSeed] ?? `${namespace}/${name}`;
    const wanted = `${size}:${seed}`;
    if (annotations[Ann.diskGenerated] === wanted && existsSync(file)) return;
    await this.disks.prepare(file);
    const disk = await writeDisk(file, { size, seed });
    await this.client.patchPvc(namespace, name, {
      metadata: { annotations: { [Ann.diskGenerated]: wanted, [Ann.diskSha256]: disk.sha256 } },
    });
  }
}
