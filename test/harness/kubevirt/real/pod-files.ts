// A Pod's file system as the kubelet would mount it, laid out in a folder that stands in
// for the container's root: Secret and ConfigMap volumes become files (one per key,
// replaced by rename as the kubelet refreshes them), a PVC mounted as a file system is a
// folder holding disk.img, a PVC given as a block device (volumeDevices) is the device
// path itself; both are symlinks to the simulator's disk files, so a rewritten disk is
// what the next read sees. The container's environment is the Pod's, with every value
// that names a path under one of its mounts moved below the folder.
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';

export interface PodSources {
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** The file holding a PVC's bytes (undefined until the simulator has it). */
  diskFile(namespace: string, claim: string): string | undefined;
}

const decode = (data: Record<string, string> | undefined) =>
  Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));

/** Writes each key as a file, by rename (a reader never sees half a file). */
function writeKeys(dir: string, data: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [key, value] of Object.entries(data)) {
    const file = path.join(dir, key);
    writeFileSync(`${file}.tmp`, value, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }
}

/**
 * Lays out the first container's mounts below `root`; fails (for a retry) while a Secret,
 * ConfigMap or disk it needs is not there yet, as the kubelet waits in ContainerCreating.
 */
export async function layOutPod(pod: k8s.V1Pod, root: string, sources: PodSources): Promise<void> {
  const ns = pod.metadata!.namespace!;
  const container = pod.spec!.containers[0]!;
  const volumes = new Map((pod.spec!.volumes ?? []).map((v) => [v.name, v]));
  const mounts = [
    ...(container.volumeMounts ?? []).map((m) => ({ name: m.name, at: m.mountPath, block: false })),
    ...(container.volumeDevices ?? []).map((d) => ({ name: d.name, at: d.devicePath, block: true })),
  ];
  for (const mount of mounts) {
    const volume = volumes.get(mount.name);
    const at = path.join(root, mount.at);
    if (volume?.secret) {
      const data = await sources.secret(ns, volume.secret.secretName!);
      if (!data) throw new Error(`Secret ${volume.secret.secretName} not found`);
      writeKeys(at, decode(data));
    } else if (volume?.configMap) {
      const data = await sources.configMap(ns, volume.configMap.name!);
      if (!data) throw new Error(`ConfigMap ${volume.configMap.name} not found`);
      writeKeys(at, data);
    } else if (volume?.persistentVolumeClaim) {
      const file = sources.diskFile(ns, volume.persistentVolumeClaim.claimName);
      if (!file) throw new Error(`PVC ${volume.persistentVolumeClaim.claimName} has no disk yet`);
      const link = mount.block ? at : path.join(at, 'disk.img');
      mkdirSync(path.dirname(link), { recursive: true });
      symlinkSync(file, link);
    } else {
      mkdirSync(at, { recursive: true });
    }
  }
}

/** The container's environment (values and metadata fieldRefs), paths moved below `root`. */
export function podEnv(pod: k8s.V1Pod, root: string): Record<string, string> {
  const container = pod.spec!.containers[0]!;
  const mountPaths = [
    ...(container.volumeMounts ?? []).map((m) => m.mountPath),
    ...(container.volumeDevices ?? []).map((d) => d.devicePath),
  ];
  const underMount = (v: string) => mountPaths.some((m) => v === m || v.startsWith(`${m}/`));
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    let value = e.value;
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (field === 'metadata.name') value = pod.metadata!.name;
    if (field === 'metadata.namespace') value = pod.metadata!.namespace;
    if (value === undefined) continue;
    env[e.name] = underMount(value) ? path.join(root, value) : value;
  }
  return env;
}
