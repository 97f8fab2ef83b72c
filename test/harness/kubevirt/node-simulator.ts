// What the bed simulates because there is no node: the volumes' bytes (a PVC is a disk
// file), the CSI driver's snapshots and volumes, and CDI's DataVolumes, against the real
// API server. KubeVirt's own virt-controller does the rest (real/bed.ts starts both).
//   const node = await startNodeSimulator({ kubeConfig });
//   ... node.diskFile(ns, pvc), node.reconciles('datavolume', 'ns/name') ...
//   await node.stop();
// See README.md beside this file for the switches, faults and deviations.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { Client } from './api.js';
import { DataVolumeController } from './datavolume-controller.js';
import { DiskStore } from './disk-store.js';
import { makeInformers, startInformers } from './informers.js';
import { PvcController } from './pvc-controller.js';
import { CsiSnapshotter } from './real/csi-snapshotter.js';
import { CsiVolumes, type LocalVolumes } from './real/csi-volumes.js';
import type { VmChanges } from './real/vm-changes.js';
import { craneImporter, type RegistryImporter } from './registry-import.js';
import type { Logger } from './work-queue.js';

export interface NodeSimulatorOptions {
  kubeConfig: k8s.KubeConfig;
  /** The CSI driver the simulator plays (its StorageClass's provisioner, its snapshot class's driver). */
  csiDriver: string;
  /** Another driver's StorageClass (the real CSI driver's): its claims are left alone. */
  foreignStorageClass?: string;
  /** Where disk files live; default a temp folder removed on stop(). */
  dataDir?: string;
  /** What imports a DataVolume's registry source into its PVC; default craneImporter. */
  registryImporter?: RegistryImporter;
  /**
   * host[:port] -> host:port, as cluster DNS would resolve them for an importer pod: lets a
   * manifest name a registry as users' clusters do (e.g. KubeVirt's examples' registry:5000).
   */
  hostAliases?: Record<string, string>;
  log?: Logger;
  /** fault-vm-change at the CSI sidecar's moments (snapshot-start, snapshot-done); none: not armed. */
  vmChanges?: VmChanges;
  /** With a real node: which restore claims get a local PV there (real/csi-volumes.ts). */
  localVolumes?: LocalVolumes;
  /**
   * 'real': CDI's real controller and importer Pods do the DataVolumes (real/cdi-controller.ts):
   * no DataVolume stand-in. Their claims are of the real CSI driver's class (real VMs).
   */
  cdi?: 'real';
}

export interface NodeSimulator {
  /** The hostAliases in use; a test may add entries (e.g. once its registry is up). */
  hostAliases: Record<string, string>;
  dataDir: string;
  /** How many reconciles a controller ran for "namespace/name" (pvc, datavolume, volumesnapshotcontent). */
  reconciles(controller: string, key: string): number;
  /** The file holding a PVC's bytes (undefined while the simulator has not seen the PVC). */
  diskFile(namespace: string, pvcName: string): string | undefined;
  stop(): Promise<void>;
}

export async function startNodeSimulator(options: NodeSimulatorOptions): Promise<NodeSimulator> {
  const log = options.log ?? (() => undefined);
  const ownDataDir = !options.dataDir;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'kubevirt-sim-'));
  const client = new Client(options.kubeConfig);
  const informers = makeInformers(options.kubeConfig);
  const disks = new DiskStore(dataDir);
  const volumes = new CsiVolumes(
    options.kubeConfig,
    client,
    disks,
    options.csiDriver,
    log,
    options.localVolumes,
  );
  const realCdi = options.cdi === 'real';
  const pvcs = new PvcController(client, informers, disks, log, volumes, options.foreignStorageClass);
  const hostAliases = options.hostAliases ?? {};
  const dataVolumes = realCdi
    ? undefined
    : new DataVolumeController(
        client,
        informers,
        disks,
        options.registryImporter ?? craneImporter,
        hostAliases,
        log,
      );
  const snapshots = new CsiSnapshotter(
    options.kubeConfig,
    client,
    informers,
    disks,
    options.csiDriver,
    log,
    options.vmChanges,
  );
  const stopInformers = await startInformers(informers, log);
  await snapshots.start();
  await volumes.start();
  let stopped = false;
  return {
    hostAliases,
    dataDir,
    diskFile: (namespace, pvcName) => pvcs.fileOf(namespace, pvcName),
    reconciles: (controller, key) => {
      const queues = {
        pvc: pvcs.queue,
        datavolume: dataVolumes?.queue,
        volumesnapshotcontent: snapshots.queue,
      };
      return queues[controller as keyof typeof queues]?.runs.get(key) ?? 0;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await snapshots.stop();
      await volumes.stop();
      await stopInformers();
      await Promise.all([pvcs.queue, dataVolumes?.queue].map((q) => q?.stop()));
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
