// The CSI driver stand-in's node plugin on the real node (beds with real VMs): what
// node-driver-registrar and a driver's node service do there, so that the real kubelet
// mounts a CSI volume of ours (a claim annotated real-node, csi-volumes.ts) into a Pod on
// that node, e.g. a VM's disk into its virt-launcher Pod. Both gRPC services run in this
// process on unix sockets in the kubelet's root dir (a socket file is reached from any
// network namespace): the registration socket in plugins_registry/, which the kubelet's
// plugin watcher finds, asks for (GetInfo) and then calls NodeGetInfo on the CSI socket it
// names; the kubelet writes the driver into the Node's CSINode. The CSIDriver object says
// attachRequired false (no attacher runs here: the kubelet would wait for a
// VolumeAttachment) and fsGroupPolicy File: the kubelet gives the volume's files to the
// Pod's fsGroup (107, KubeVirt's qemu user, in a launcher Pod) as it does for a local PV.
// NodePublishVolume bind-mounts a folder holding disk.img, a hard link of the claim's disk
// file (the bytes the simulator, the snapshotter and the restores see), onto the kubelet's
// target path in the node's mount namespace; no NodeStageVolume (no capabilities).
import { existsSync } from 'node:fs';
import { link, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as k8s from '@kubernetes/client-node';
import type { RealNode } from '../../node/real-node.js';
import type { Logger } from '../work-queue.js';

const here = path.dirname(fileURLToPath(import.meta.url));

type Service = grpc.ServiceDefinition;
function load(file: string): unknown {
  return grpc.loadPackageDefinition(
    protoLoader.loadSync(path.join(here, 'csi-node', file), {
      keepCase: true,
      longs: Number,
      defaults: true,
    }),
  );
}

export interface CsiNodePlugin {
  /** The volumes published now: target path -> volume id. */
  published: Map<string, string>;
  stop(): Promise<void>;
}

/** The folder a published volume is (it holds disk.img, a hard link of `file`). */
export const publishedDirOf = (file: string) => `${file}.volume`;

export async function startCsiNodePlugin(options: {
  kc: k8s.KubeConfig;
  driver: string;
  node: RealNode;
  /** Where volume ids (paths relative to it) are, the simulator's data folder. */
  dataDir: string;
  log: Logger;
}): Promise<CsiNodePlugin> {
  const { driver, node, dataDir, log } = options;
  await options.kc.makeApiClient(k8s.StorageV1Api).createCSIDriver({
    body: {
      metadata: { name: driver },
      spec: {
        attachRequired: false,
        podInfoOnMount: false,
        fsGroupPolicy: 'File',
        volumeLifecycleModes: ['Persistent'],
      },
    },
  });
  const csi = load('csi.proto') as { csi: { v1: Record<string, { service: Service }> } };
  const registration = load('pluginregistration.proto') as {
    pluginregistration: { Registration: { service: Service } };
  };
  const pluginDir = path.join(node.kubeletRoot, 'plugins', driver);
  const csiSocket = path.join(pluginDir, 'csi.sock');
  const registrySocket = path.join(node.kubeletRoot, 'plugins_registry', `${driver}-reg.sock`);
  await mkdir(pluginDir, { recursive: true });
  await mkdir(path.dirname(registrySocket), { recursive: true });
  const published = new Map<string, string>();
  let registered: (error?: string) => void = () => undefined;
  const registeredOnce = new Promise<void>((resolve, reject) => {
    registered = (error) =>
      error ? reject(new Error(`kubelet refused the CSI plugin: ${error}`)) : resolve();
  });

  type Call<T> = grpc.ServerUnaryCall<T, unknown>;
  const unary =
    <T>(fn: (request: T) => Promise<object> | object) =>
    (call: Call<T>, callback: grpc.sendUnaryData<unknown>) => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then(
          (answer) => callback(null, answer),
          (err: Error) => {
            log(`csi-node ${call.getPath()}`, err);
            callback({ code: grpc.status.INTERNAL, details: err.message });
          },
        );
    };

  const csiServer = new grpc.Server();
  csiServer.addService(csi.csi.v1.Identity!.service, {
    GetPluginInfo: unary(() => ({ name: driver, vendor_version: '0.0.0' })),
    GetPluginCapabilities: unary(() => ({})),
    Probe: unary(() => ({})),
  });
  csiServer.addService(csi.csi.v1.Node!.service, {
    NodeGetInfo: unary(() => ({ node_id: node.nodeName, max_volumes_per_node: 0 })),
    NodeGetCapabilities: unary(() => ({})),
    NodePublishVolume: unary(async (req: { volume_id: string; target_path: string; readonly: boolean }) => {
      const file = path.join(dataDir, req.volume_id);
      if (!existsSync(file)) throw new Error(`volume ${req.volume_id}: no disk file`);
      const dir = publishedDirOf(file);
      await mkdir(dir, { recursive: true, mode: 0o755 });
      if (!existsSync(`${dir}/disk.img`)) await link(file, `${dir}/disk.img`);
      // In the node's mounts (the kubelet's and containerd's), idempotent as the spec asks.
      await node.exec('sh', [
        '-c',
        'mkdir -p "$2" && { mountpoint -q "$2" || mount --bind "$1" "$2"; } && { [ "$3" != true ] || mount -o remount,bind,ro "$2"; }',
        'publish',
        dir,
        req.target_path,
        String(req.readonly),
      ]);
      published.set(req.target_path, req.volume_id);
      return {};
    }),
    NodeUnpublishVolume: unary(async (req: { volume_id: string; target_path: string }) => {
      await node.exec('sh', [
        '-c',
        '! mountpoint -q "$1" || umount "$1"; [ ! -d "$1" ] || rmdir "$1"',
        'unpublish',
        req.target_path,
      ]);
      published.delete(req.target_path);
      return {};
    }),
  });
  const registryServer = new grpc.Server();
  registryServer.addService(registration.pluginregistration.Registration.service, {
    GetInfo: unary(() => ({
      type: 'CSIPlugin',
      name: driver,
      endpoint: csiSocket,
      supported_versions: ['1.0.0'],
    })),
    NotifyRegistrationStatus: unary((req: { plugin_registered: boolean; error: string }) => {
      registered(req.plugin_registered ? undefined : req.error || 'not registered');
      return {};
    }),
  });
  const bind = (server: grpc.Server, socket: string) =>
    new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  await rm(csiSocket, { force: true });
  await bind(csiServer, csiSocket);
  // The registration socket last: the kubelet calls the CSI socket as soon as it sees it.
  await rm(registrySocket, { force: true });
  await bind(registryServer, registrySocket);
  const stop = async () => {
    await rm(registrySocket, { force: true });
    csiServer.forceShutdown();
    registryServer.forceShutdown();
    await rm(pluginDir, { recursive: true, force: true });
  };
  const timeout = new Promise<never>((_, reject) => {
    const t = setTimeout(
      () => reject(new Error(`the kubelet did not register CSI driver ${driver} in 60 s`)),
      60_000,
    );
    void registeredOnce.finally(() => clearTimeout(t)).catch(() => undefined);
  });
  try {
    await Promise.race([registeredOnce, timeout]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { published, stop };
}
