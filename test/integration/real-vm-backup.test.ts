// The proof (issue 24): a ServerImage of a real, running VM boots. A VirtualMachine whose
// root disk is a PVC holding the bootable guest disk (build-images.sh's vm-guest) runs in
// real QEMU on the bed's real node (real virt-handler, virt-launcher, virt-api; the claim
// is a CSI volume there, csi-node.ts), and its guest writes a random marker onto its own
// ext4 /data at first boot. The in-process operator images the VM: KubeVirt's snapshot
// freezes the guest through its agent, the export serves the snapshot, the image goes to
// the bed's registry. That image then boots as a containerDisk on the same node (its
// containerd pulls it from the registry) and so does `serverimage restore --as
// containerdisk`'s VM, and both guests find the marker the first one wrote.
// Gated like real-vm.test.ts (SERVERIMAGE_REAL_VMS=1, `npm run test:vms`: the VM images
// are built first); three guests boot under emulation, a few minutes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { imageTarball } from '../harness/container-images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import type { Obj } from '../harness/kubevirt/api.js';
import { CSI_DRIVER } from '../harness/kubevirt/real/bed.js';
import { containerLog } from '../harness/kubevirt/real/virt-handler-pod.js';
import { until } from '../harness/kubevirt/testing.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import { cli } from './cli-fixtures.js';
import {
  REAL_NODE,
  serverImage,
  createServerImage,
  startServerImageBed,
  waitForPhase,
  type ServerImageBed,
} from './serverimage-fixtures.js';

const enabled = !!process.env.SERVERIMAGE_REAL_VMS;
const maybe = enabled ? it : it.skip;

const VMI = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances' };
const VMS = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };

let bed: ServerImageBed;
let ns: string;
let diskDir: string;

/** The vm-guest image's disk/disk.img (its one layer), the bytes of the VM's disk claim. */
function guestDisk(dir: string): string {
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

beforeAll(async () => {
  if (!enabled) return;
  bed = await startServerImageBed([], { ...REAL_NODE, node: 'real', vms: true });
  ns = await createNamespace('proof');
  // The node's containerd pulls the images from the bed's registry (plain HTTP here).
  bed.sim.realNode!.containerd.trustRegistry(bed.registry.host, {
    tls: bed.registry.tls,
    caPem: bed.registry.caPem,
  });
  diskDir = mkdtempSync(path.join(os.tmpdir(), 'proof-disk-'));
}, 900_000);

afterAll(async () => {
  await bed?.stop();
  if (diskDir) rmSync(diskDir, { recursive: true, force: true });
});

type Vmi = {
  metadata: Obj['metadata'];
  status?: {
    phase?: string;
    nodeName?: string;
    conditions?: Array<{ type: string; status: string }>;
  };
};

maybe(
  "images a running VM, its guest frozen through its agent, and the image boots with the guest's own marker",
  async () => {
    const node = bed.sim.realNode!;
    const custom = bed.client.custom;
    const core = bed.client.core;
    const launcherPod = async (vmi: string) =>
      (
        await core.listNamespacedPod({
          namespace: ns,
          labelSelector: `kubevirt.io=virt-launcher,vm.kubevirt.io/name=${vmi}`,
        })
      ).items.find((p) => !p.metadata?.deletionTimestamp);
    const consoleOf = async (vmi: string) => {
      const pod = await launcherPod(vmi);
      return pod ? containerLog(node, ns, pod.metadata!.name!, 'guest-console-log') : '';
    };
    const describe = async (vmi: string) => {
      const pod = await launcherPod(vmi).catch(() => undefined);
      const status = await custom
        .getNamespacedCustomObject({ ...VMI, namespace: ns, name: vmi })
        .then((o) => JSON.stringify((o as Vmi).status))
        .catch(() => 'no VMI');
      const logs = pod
        ? ['compute', 'guest-console-log']
            .map((c) => `--- ${c}:\n${containerLog(node, ns, pod.metadata!.name!, c).slice(-3000)}`)
            .join('\n')
        : 'no launcher Pod';
      return `VMI ${vmi} status ${status}\nPod status ${JSON.stringify(pod?.status)}\n${logs}\n--- virt-handler:\n${bed.sim.virtHandler!.log().slice(-3000)}`;
    };
    /** The guest's marker line on `vmi`'s console: [id, new|found]. */
    const marker = (vmi: string, timeoutMs: number) =>
      until(
        `the marker line on ${vmi}'s console`,
        async () => {
          const vmiObj = (await custom
            .getNamespacedCustomObject({ ...VMI, namespace: ns, name: vmi })
            .catch(() => undefined)) as Vmi | undefined;
          if (vmiObj?.status?.phase === 'Failed') throw new Error(`VMI ${vmi} Failed`);
          const m = /serverimage-guest: marker ([0-9a-f]+) \((new|found)\)/.exec(await consoleOf(vmi));
          return m ? ([m[1]!, m[2]!] as const) : undefined;
        },
        timeoutMs,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await describe(vmi)}`);
      });
    const vmiOf = async (name: string) =>
      (await custom.getNamespacedCustomObject({ ...VMI, namespace: ns, name })) as Vmi;

    // 1. The VM: its root disk a claim holding the guest disk's bytes, a CSI volume on the
    // real node (so its launcher Pod goes there, through the PV's node affinity).
    const started = Date.now();
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: {
        metadata: {
          name: 'proof-root',
          annotations: { [Ann.diskFrom]: guestDisk(diskDir), [Ann.realNode]: 'true' },
        },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Mi' } } },
      },
    });
    await custom.createNamespacedCustomObject({
      ...VMS,
      namespace: ns,
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachine',
        metadata: { name: 'proof' },
        spec: {
          runStrategy: 'Always',
          template: {
            spec: {
              nodeSelector: { 'kubernetes.io/hostname': node.nodeName },
              terminationGracePeriodSeconds: 0,
              domain: {
                cpu: { cores: 1, sockets: 1, threads: 1 },
                memory: { guest: '256Mi' },
                resources: { requests: { memory: '256Mi' } },
                devices: {
                  autoattachPodInterface: false,
                  disks: [{ name: 'root', disk: { bus: 'virtio' } }],
                },
              },
              volumes: [{ name: 'root', persistentVolumeClaim: { claimName: 'proof-root' } }],
            },
          },
        },
      },
    });
    const [id, state] = await marker('proof', 300_000);
    expect(state).toBe('new');
    expect((await vmiOf('proof')).status!.nodeName).toBe(node.nodeName);
    // The claim is a CSI volume of the bed's driver pinned to the real node, which the real
    // kubelet mounted through the node plugin stand-in (the driver is in the Node's CSINode)
    // and gave to the launcher Pod's fsGroup: QEMU (uid 107) writes it through its group.
    const claim = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'proof-root' });
    const pv = await core.readPersistentVolume({ name: claim.spec!.volumeName! });
    expect(pv.spec!.csi?.driver).toBe(CSI_DRIVER);
    expect(pv.spec!.nodeAffinity!.required!.nodeSelectorTerms[0]!.matchExpressions![0]!.values).toEqual([
      node.nodeName,
    ]);
    const csiNode = await kubeConfig().makeApiClient(k8s.StorageV1Api).readCSINode({ name: node.nodeName });
    expect(csiNode.spec.drivers.map((d) => d.name)).toContain(CSI_DRIVER);
    const disk = statSync(bed.sim.diskFile(ns, 'proof-root')!);
    expect(disk.gid).toBe(107);
    expect(disk.mode & 0o060).toBe(0o060);
    const booted = Date.now();
    // The guest agent connected: KubeVirt's snapshot freezes only through it.
    await until(
      "the VMI's AgentConnected",
      async () =>
        (await vmiOf('proof')).status?.conditions?.some(
          (c: { type: string; status: string }) => c.type === 'AgentConnected' && c.status === 'True',
        ),
      120_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await describe('proof')}`);
    });
    const agentAt = Date.now();

    // 2. The ServerImage of the running VM: Active, the guest frozen through its agent.
    await createServerImage(bed.client, serverImage(ns, 'proof-image', 'proof', bed.registry));
    const si = await waitForPhase(bed.client, ns, 'proof-image', 'Active', 300_000);
    const activeAt = Date.now();
    const indications = (si.status!.snapshot as { indications: string[] }).indications;
    expect(indications).toEqual(expect.arrayContaining(['Online', 'GuestAgent']));
    const originalConsole = await consoleOf('proof');
    expect(originalConsole).toMatch(/guest-fsfreeze called/);
    expect(originalConsole).toMatch(/guest-fsthaw called/);
    const images = si.status!.images as Array<{ volume: string; digest: string }>;
    expect(images.map((i) => i.volume)).toEqual(['root']);
    const ref = `${bed.registry.host}/vms/proof@${images[0]!.digest}`;
    // The original is halted: three guests under emulation would share two cores.
    await custom.patchNamespacedCustomObject(
      { ...VMS, namespace: ns, name: 'proof', body: { spec: { runStrategy: 'Halted' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );

    // 3a. The pushed image boots directly as a containerDisk: the node's containerd pulls it
    // from the registry, and the guest finds the marker its original wrote.
    await custom.createNamespacedCustomObject({
      ...VMI,
      namespace: ns,
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstance',
        metadata: { name: 'from-image' },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': node.nodeName },
          terminationGracePeriodSeconds: 0,
          domain: {
            cpu: { cores: 1, sockets: 1, threads: 1 },
            memory: { guest: '256Mi' },
            resources: { requests: { memory: '256Mi' } },
            devices: { autoattachPodInterface: false, disks: [{ name: 'root', disk: { bus: 'virtio' } }] },
          },
          volumes: [{ name: 'root', containerDisk: { image: ref } }],
        },
      },
    });
    const imageAsked = Date.now();
    expect(await marker('from-image', 300_000)).toEqual([id, 'found']);
    const imageBooted = Date.now();
    // Pulled by containerd from the registry (no import: the image exists only there).
    expect(await node.containerd.ctr(['images', 'ls', '-q'])).toContain(images[0]!.digest);
    await custom.deleteNamespacedCustomObject({ ...VMI, namespace: ns, name: 'from-image' });

    // 3b. `serverimage restore --as containerdisk`: a VM whose volume is the image by digest.
    const restored = await cli([
      'restore',
      'proof-image',
      '--as',
      'containerdisk',
      '--run-strategy',
      'Always',
      '-n',
      ns,
      '--name',
      'proof-restored',
    ]);
    expect(restored).toMatchObject({ code: 0, stderr: '' });
    const vm = (await custom.getNamespacedCustomObject({
      ...VMS,
      namespace: ns,
      name: 'proof-restored',
    })) as {
      spec: { template: { spec: { volumes: object[] } } };
    };
    expect(vm.spec.template.spec.volumes).toEqual([{ name: 'root', containerDisk: { image: ref } }]);
    expect(await marker('proof-restored', 300_000)).toEqual([id, 'found']);
    const restoreBooted = Date.now();

    if (process.env.SERVERIMAGE_VM_TIMES)
      process.stdout.write(
        `proof: the VM's marker on its console ${booted - started} ms after the claim's create, agent ${agentAt - booted} ms later; ` +
          `Active ${activeAt - agentAt} ms after the ServerImage's create; the image booted ${imageBooted - imageAsked} ms after its VMI's create; ` +
          `the restored VM ${restoreBooted - imageBooted} ms after that\n`,
      );
  },
  900_000,
);
