// Pieces the real-VM files share (real-vm.test.ts, real-vm-backup.test.ts, real-vm-verify.test.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { imageTarball } from '../harness/container-images.js';
import { HOSTPATH_STORAGE_CLASS } from '../harness/kubevirt/real/csi-hostpath.js';
import { deletePodAndWait } from '../harness/kubevirt/real/pod-deletion.js';
import { until } from '../harness/kubevirt/testing.js';
import { createNamespace } from '../harness/testbed.js';
import { REAL_NODE, startServerImageBed, type ServerImageBed } from './serverimage-fixtures.js';

/** Whether the real-VM files run: `npm test` and `npm run test:vms` build the VM images first and set it. */
export const REAL_VMS_ENABLED = !!process.env.SERVERIMAGE_REAL_VMS;

export const VMI = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances' };
export const VMS = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };

/**
 * The spec of a small guest on the real node (where QEMU runs; one core, 256 MiB, no
 * network), booting from its one disk `root`: a VMI's spec or a VM's template spec.
 */
export function guestVmiSpec(nodeName: string, root: Record<string, unknown>): Record<string, unknown> {
  return {
    nodeSelector: { 'kubernetes.io/hostname': nodeName },
    terminationGracePeriodSeconds: 0,
    domain: {
      cpu: { cores: 1, sockets: 1, threads: 1 },
      memory: { guest: '256Mi' },
      resources: { requests: { memory: '256Mi' } },
      devices: { autoattachPodInterface: false, disks: [{ name: 'root', disk: { bus: 'virtio' } }] },
    },
    volumes: [{ name: 'root', ...root }],
  };
}

/** A ServerImage bed whose real node runs real VMs, a namespace in it, and a folder for disks. */
export interface RealVmBed {
  bed: ServerImageBed;
  ns: string;
  diskDir: string;
  /** Milliseconds of each step, printed by stop() with SERVERIMAGE_VM_TIMES. */
  times: Record<string, number>;
  /** Prints the times (and `extra` lines) when asked, stops the bed, removes the disk folder. */
  stop(extra?: string): Promise<void>;
}

/**
 * The bed of the real-VM ServerImage files: the in-process operator with `flags`, the real
 * node with real VMs and the real CSI driver (and CDI's real controller with `cdi: 'real'`).
 * The node's containerd trusts the bed's registry (plain HTTP here), and so do CDI's
 * importers (CDIConfig's insecureRegistries, as a cluster's admin allows one).
 */
export async function startRealVmBed(
  name: string,
  flags: string[],
  options: { cdi?: 'real' } = {},
): Promise<RealVmBed> {
  // The real CSI driver cuts a filesystem volume's snapshot as a gzip tarball of its folder:
  // 64 MiB took 9 s here under load, past the test flags' 6 s snapshot timeout.
  const bed = await startServerImageBed(['--snapshot-timeout=120s', ...flags], {
    ...REAL_NODE,
    node: 'real',
    vms: true,
    ...options,
  });
  let ns: string;
  try {
    ns = await createNamespace(name);
    bed.sim.realNode!.containerd.trustRegistry(bed.registry.host, {
      tls: bed.registry.tls,
      caPem: bed.registry.caPem,
    });
    if (options.cdi && !bed.registry.tls) await bed.sim.cdi!.insecureRegistry(bed.registry.host);
  } catch (err) {
    await bed.stop();
    throw err;
  }
  const diskDir = mkdtempSync(path.join(os.tmpdir(), `${name}-disk-`));
  const times: Record<string, number> = {};
  return {
    bed,
    ns,
    diskDir,
    times,
    async stop(extra) {
      if (process.env.SERVERIMAGE_VM_TIMES) {
        const steps = Object.entries(times).map(([k, v]) => `${k} ${v}`);
        process.stdout.write(`${name} times (ms): ${steps.join('; ')}\n${extra ?? ''}`);
      }
      await bed.stop();
      rmSync(diskDir, { recursive: true, force: true });
    },
  };
}

/** The vm-guest image's disk/disk.img (its one layer), the bytes of a VM's disk claim, under `dir`. */
export function guestDisk(dir: string): string {
  const tarball = imageTarball('vm-guest');
  const manifest = JSON.parse(
    execFileSync('tar', ['-xOf', tarball, 'manifest.json'], { encoding: 'utf8' }),
  ) as {
    Layers: string[];
  }[];
  execFileSync('sh', [
    '-c',
    'tar -xOf "$1" "$2" | tar -x -C "$3" disk/disk.img',
    'sh',
    tarball,
    manifest[0]!.Layers[0]!,
    dir,
  ]);
  return path.join(dir, 'disk', 'disk.img');
}

/**
 * A claim of the real CSI driver's class (`csi-hostpath-sc`, on the real node) holding the
 * bytes of `file` as `disk.img` (KubeVirt's disk of a filesystem claim): a Pod on the node
 * copies the file in from a hostPath, as a user populates a volume without CDI. The
 * class binds on first consumer: that Pod is the consumer, so the real provisioner makes
 * the volume on the node the scheduler picked for it. Resolves once the copy is done and
 * the Pod deleted (the claim is then free for a VM's launcher Pod).
 */
export async function populatedClaim(
  core: k8s.CoreV1Api,
  options: { namespace: string; name: string; file: string; size: string; nodeName: string; image: string },
): Promise<void> {
  const { namespace, name, file } = options;
  await core.createNamespacedPersistentVolumeClaim({
    namespace,
    body: {
      metadata: { name },
      spec: {
        storageClassName: HOSTPATH_STORAGE_CLASS,
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: options.size } },
      },
    },
  });
  const pod = `populate-${name}`;
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: pod },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 0,
        nodeSelector: { 'kubernetes.io/hostname': options.nodeName },
        containers: [
          {
            name: 'copy',
            image: options.image,
            imagePullPolicy: 'Never',
            command: [
              'sh',
              '-c',
              'cp --sparse=always "/source/$1" /volume/disk.img.tmp && mv /volume/disk.img.tmp /volume/disk.img',
              'copy',
              path.basename(file),
            ],
            volumeMounts: [
              { name: 'source', mountPath: '/source', readOnly: true },
              { name: 'volume', mountPath: '/volume' },
            ],
          },
        ],
        volumes: [
          { name: 'source', hostPath: { path: path.dirname(file), type: 'Directory' } },
          { name: 'volume', persistentVolumeClaim: { claimName: name } },
        ],
      },
    },
  });
  let last: k8s.V1Pod | undefined;
  await until(
    `the Pod populating claim ${name}`,
    async () => {
      last = await core.readNamespacedPod({ namespace, name: pod });
      if (last.status?.phase === 'Failed')
        throw new Error(`populating ${name} failed: ${JSON.stringify(last.status)}`);
      return last.status?.phase === 'Succeeded';
    },
    180_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nPod status ${JSON.stringify(last?.status)}`);
  });
  await deletePodAndWait(core, namespace, pod, 60_000);
}
