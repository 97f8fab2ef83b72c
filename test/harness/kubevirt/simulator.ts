// The KubeVirt simulator, in-process: CRDs and the storage/VM/DataVolume/snapshot/export
// controllers against the real API server; each Ready export is served by a real
// virt-exportserver process that the simulator starts and stops.
//   const sim = await startKubevirtSimulator({ kubeConfig });
//   ... sim.exportCaPem, sim.exportServers(), sim.diskFile(ns, pvc) ...
//   await sim.stop();
// See README.md beside this file for the switches, faults and deviations.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { createCertificateAuthority } from '../tls.js';
import { Client } from './api.js';
import { installKubevirtCrds } from './crds/install.js';
import { DataVolumeController } from './datavolume-controller.js';
import { DiskStore } from './disk-store.js';
import { ExportController } from './export-controller.js';
import { ExportServers, type RunningExportServer } from './export-servers.js';
import { makeInformers, startInformers } from './informers.js';
import { PvcController } from './pvc-controller.js';
import { CsiSnapshotter } from './real/csi-snapshotter.js';
import { CsiVolumes } from './real/csi-volumes.js';
import { craneImporter, type RegistryImporter } from './registry-import.js';
import { SnapshotController } from './snapshot-controller.js';
import { VmChangeFault } from './vm-change.js';
import { VmController } from './vm-controller.js';
import type { Logger } from './work-queue.js';

export interface SimulatorOptions {
  kubeConfig: k8s.KubeConfig;
  /** Where disk files live; default a temp folder removed on stop(). */
  dataDir?: string;
  /** Install (or update) the CRDs first; default true. */
  installCrds?: boolean;
  /** How long Starting/Stopping/Terminating last; default 300 ms. */
  transitionMs?: number;
  /** How long a snapshot stays InProgress before its volumes are taken; default 200 ms. */
  snapshotStepMs?: number;
  /** What imports a DataVolume's registry source into its PVC; default craneImporter. */
  registryImporter?: RegistryImporter;
  /**
   * host[:port] -> host:port, as cluster DNS would resolve them for an importer pod: lets a
   * manifest name a registry as users' clusters do (e.g. KubeVirt's examples' registry:5000).
   */
  hostAliases?: Record<string, string>;
  /**
   * Only what needs a node: storage (PVCs, the CSI snapshot driver), CDI's DataVolumes;
   * KubeVirt's real virt-controller plays VMs, snapshots and exports (real/bed.ts starts
   * it, with the virt-handler and kubelet stand-ins). Default false: the simulator plays all.
   */
  nodeOnly?: boolean;
  /** nodeOnly: the CSI driver the simulator plays (its PVs' and VolumeSnapshotContents'). */
  csiDriver?: string;
  log?: Logger;
}

export interface KubevirtSimulator {
  /** The CA of every export server's certificate (what links.internal.cert carries). */
  exportCaPem: string;
  /** The virt-exportserver processes running now, one per Ready export. */
  exportServers(): RunningExportServer[];
  /** The hostAliases in use; a test may add entries (e.g. once its registry is up). */
  hostAliases: Record<string, string>;
  dataDir: string;
  /** How many reconciles a controller ran for "namespace/name" (vm, datavolume, pvc, vmexport ...). */
  reconciles(controller: string, key: string): number;
  /** The file holding a PVC's bytes (undefined while the simulator has not seen the PVC). */
  diskFile(namespace: string, pvcName: string): string | undefined;
  stop(): Promise<void>;
}

const quietLog: Logger = (message, err) => {
  if (process.env.SERVERIMAGE_SIM_LOG) process.stderr.write(`[kubevirt-sim] ${message} ${err ?? ''}\n`);
};

export async function startKubevirtSimulator(options: SimulatorOptions): Promise<KubevirtSimulator> {
  const log = options.log ?? quietLog;
  const ownDataDir = !options.dataDir;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'kubevirt-sim-'));
  if (options.installCrds !== false) await installKubevirtCrds(options.kubeConfig);

  const client = new Client(options.kubeConfig);
  const informers = makeInformers(options.kubeConfig);
  const disks = new DiskStore(dataDir);
  const csiDriver = options.csiDriver ?? 'sim.csi.serverimage.io';
  const volumes = options.nodeOnly
    ? new CsiVolumes(options.kubeConfig, client, disks, csiDriver, log)
    : undefined;
  const pvcs = new PvcController(client, informers, disks, log, volumes);
  const hostAliases = options.hostAliases ?? {};
  const dataVolumes = new DataVolumeController(
    client,
    informers,
    disks,
    options.registryImporter ?? craneImporter,
    hostAliases,
    log,
  );
  if (volumes)
    return startNodeOnly(
      new CsiSnapshotter(options.kubeConfig, client, informers, disks, csiDriver, log),
      volumes,
      informers,
      pvcs,
      dataVolumes,
      dataDir,
      ownDataDir,
      hostAliases,
      log,
    );
  const vms = new VmController(client, informers, options.transitionMs ?? 300, log);
  const vmChange = new VmChangeFault(informers, vms, log);
  const snapshots = new SnapshotController(
    client,
    informers,
    disks,
    vmChange,
    options.snapshotStepMs ?? 200,
    log,
  );
  const ca = createCertificateAuthority('kubevirt-export-ca');
  const servers = new ExportServers({
    ca,
    keyPair: ca.issue({
      commonName: 'virt-exportserver',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    }),
    dir: path.join(dataDir, 'exporters'),
    faultSources: (s) => [
      informers.exports.get(s.name, s.namespace),
      s.vmName ? informers.vms.get(s.vmName, s.namespace) : undefined,
    ],
    onRead: (s) =>
      void vmChange.fire(s.namespace, s.vmName, 'export-read', s.uid).catch((e) => log('vm change', e)),
  });
  const exports = new ExportController(
    client,
    informers,
    vmChange,
    servers,
    (namespace, pvc) => pvcs.fileOf(namespace, pvc),
    ca.certPem,
    log,
  );
  const stopInformers = await startInformers(informers, log);
  let stopped = false;

  return {
    exportCaPem: ca.certPem,
    exportServers: () => servers.list(),
    hostAliases,
    dataDir,
    diskFile: (namespace, pvcName) => pvcs.fileOf(namespace, pvcName),
    reconciles: (controller, key) => {
      const queues = {
        pvc: pvcs.queue,
        vm: vms.queue,
        datavolume: dataVolumes.queue,
        vmexport: exports.queue,
      };
      return queues[controller as keyof typeof queues]?.runs.get(key) ?? 0;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopInformers();
      await Promise.all(
        [
          pvcs.queue,
          vms.queue,
          dataVolumes.queue,
          snapshots.queue,
          snapshots.contentQueue,
          exports.queue,
        ].map((q) => q.stop()),
      );
      await servers.stopAll();
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The node's side only (nodeOnly): storage, CSI snapshots and DataVolumes. */
async function startNodeOnly(
  snapshots: CsiSnapshotter,
  volumes: CsiVolumes,
  informers: ReturnType<typeof makeInformers>,
  pvcs: PvcController,
  dataVolumes: DataVolumeController,
  dataDir: string,
  ownDataDir: boolean,
  hostAliases: Record<string, string>,
  log: Logger,
): Promise<KubevirtSimulator> {
  const stopInformers = await startInformers(informers, log);
  await snapshots.start();
  await volumes.start();
  let stopped = false;
  return {
    exportCaPem: '',
    exportServers: () => [],
    hostAliases,
    dataDir,
    diskFile: (namespace, pvcName) => pvcs.fileOf(namespace, pvcName),
    reconciles: (controller, key) => {
      const queues = {
        pvc: pvcs.queue,
        datavolume: dataVolumes.queue,
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
      await Promise.all([pvcs.queue, dataVolumes.queue].map((q) => q.stop()));
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
