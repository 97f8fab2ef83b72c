// Pieces the real-VM files share (real-vm-backup.test.ts, real-vm-verify.test.ts).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { imageTarball } from '../harness/container-images.js';
import { HOSTPATH_STORAGE_CLASS } from '../harness/kubevirt/real/csi-hostpath.js';
import { until } from '../harness/kubevirt/testing.js';

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
  await core.deleteNamespacedPod({ namespace, name: pod, gracePeriodSeconds: 0 });
  await until(
    `the Pod populating claim ${name} gone`,
    async () =>
      core.readNamespacedPod({ namespace, name: pod }).then(
        () => false,
        () => true,
      ),
    60_000,
  );
}
