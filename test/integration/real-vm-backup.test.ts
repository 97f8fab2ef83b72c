// The proof (issue 24): a ServerImage of a real, running VM boots. A VirtualMachine whose
// root disk is a PVC holding the bootable guest disk (build-images.sh's vm-guest) runs in
// real QEMU on the bed's real node (real virt-handler, virt-launcher, virt-api; the claim
// is a volume of the real CSI hostpath driver there, csi-hostpath.ts, filled by a Pod before
// the VM starts), and its guest writes a random marker onto its own
// ext4 /data at first boot. The in-process operator images the running VM four times:
// KubeVirt's snapshot freezes the guest through its agent each time, the real csi-snapshotter
// and driver cut the volume's snapshot, the export serves it from a claim the real
// provisioner restores from it, the image goes to the bed's registry. The default image (gzip, raw), a zstd
// qcow2 one, and two incremental backups (format.layout chunked; the second reuses the
// first's chunks). The original is then halted and each boots on the same node, one guest
// at a time: the default image as a containerDisk VMI (the node's containerd 1.6 pulls it
// from the registry) and as `serverimage restore --as containerdisk`'s VM; the zstd qcow2
// image as a containerDisk VMI (containerd unpacks the zstd layer, QEMU reads the qcow2);
// the second incremental backup through `serverimage restore --as containerdisk`, which
// materializes a containerDisk image from its chunks first; and the default image through
// `serverimage restore --as datavolume`, whose DataVolume CDI's real controller imports
// (the bed's `cdi: 'real'`: an importer Pod on the real node). Every guest finds the marker
// the first one wrote.
// Gated like real-vm.test.ts (SERVERIMAGE_REAL_VMS=1, `npm run test:vms`: the VM images
// are built first); six guests boot under emulation, several minutes.
import { statSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { DATA_VOLUME, type Obj } from '../harness/kubevirt/api.js';
import {
  HOSTPATH_DRIVER,
  HOSTPATH_STORAGE_CLASS,
  HOSTPATH_TOPOLOGY_KEY,
} from '../harness/kubevirt/real/csi-hostpath.js';
import { containerLog } from '../harness/kubevirt/real/virt-handler-pod.js';
import { until } from '../harness/kubevirt/testing.js';
import { kubeConfig } from '../harness/testbed.js';
import { RegistryClient } from '../../src/registry/index.js';
import { cli } from './cli-fixtures.js';
import {
  REAL_VMS_ENABLED,
  VMI,
  VMS,
  guestDisk,
  guestVmiSpec,
  populatedClaim,
  startRealVmBed,
  type RealVmBed,
} from './real-vm-fixtures.js';
import {
  SERVERIMAGE,
  serverImage,
  createServerImage,
  waitForPhase,
  type ServerImageBed,
} from './serverimage-fixtures.js';

const maybe = REAL_VMS_ENABLED ? it : it.skip;

let real: RealVmBed;
let bed: ServerImageBed;
let ns: string;
let diskDir: string;
/** The marker the original guest wrote at its first boot (set by the first case). */
let markerId: string | undefined;
/** The ServerImages the first case made, each Active: its status.images. */
const made: Record<string, ImageStatus[]> = {};
/** Milliseconds of each step, printed with SERVERIMAGE_VM_TIMES. */
let times: Record<string, number>;
/** The two incremental backups' chunk counts, printed with SERVERIMAGE_VM_TIMES. */
let chunkStats = '';

type ImageStatus = {
  volume: string;
  reference: string;
  digest: string;
  diskFormat: string;
  chunked?: { chunks: number; zeroChunks: number; newChunks: number; reusedChunks: number };
};

beforeAll(async () => {
  if (!REAL_VMS_ENABLED) return;
  real = await startRealVmBed('proof', [], { cdi: 'real' });
  ({ bed, ns, diskDir, times } = real);
}, 900_000);

afterAll(() => real?.stop(`proof chunks: ${chunkStats}\n`));

type Vmi = {
  metadata: Obj['metadata'];
  status?: {
    phase?: string;
    nodeName?: string;
    conditions?: Array<{ type: string; status: string }>;
  };
};

const vmiOf = async (name: string) =>
  (await bed.client.custom.getNamespacedCustomObject({ ...VMI, namespace: ns, name })) as Vmi;

const launcherPod = async (vmi: string) =>
  (
    await bed.client.core.listNamespacedPod({
      namespace: ns,
      labelSelector: `kubevirt.io=virt-launcher,vm.kubevirt.io/name=${vmi}`,
    })
  ).items.find((p) => !p.metadata?.deletionTimestamp);

const consoleOf = async (vmi: string) => {
  const pod = await launcherPod(vmi);
  return pod ? containerLog(bed.sim.realNode!, ns, pod.metadata!.name!, 'guest-console-log') : '';
};

/** What went on with `vmi`, for a failure's message. */
const describeVmi = async (vmi: string) => {
  const node = bed.sim.realNode!;
  const pod = await launcherPod(vmi).catch(() => undefined);
  const status = await vmiOf(vmi)
    .then((o) => JSON.stringify(o.status))
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
      const vmiObj = await vmiOf(vmi).catch(() => undefined);
      if (vmiObj?.status?.phase === 'Failed') throw new Error(`VMI ${vmi} Failed`);
      const m = /serverimage-guest: marker ([0-9a-f]+) \((new|found)\)/.exec(await consoleOf(vmi));
      return m ? ([m[1]!, m[2]!] as const) : undefined;
    },
    timeoutMs,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await describeVmi(vmi)}`);
  });

/**
 * Boots `image` as a containerDisk VMI on the real node (its containerd pulls it from the
 * registry), expects the original guest's marker `(found)` on its console, and deletes the
 * VMI again (two cores: one emulated guest at a time). Returns the ms from create to marker.
 */
async function bootsWithMarker(name: string, image: string): Promise<number> {
  const custom = bed.client.custom;
  await custom.createNamespacedCustomObject({
    ...VMI,
    namespace: ns,
    body: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstance',
      metadata: { name },
      spec: guestVmiSpec(bed.sim.realNode!.nodeName, { containerDisk: { image } }),
    },
  });
  const asked = Date.now();
  try {
    expect(await marker(name, 300_000)).toEqual([markerId, 'found']);
    return Date.now() - asked;
  } finally {
    await custom.deleteNamespacedCustomObject({ ...VMI, namespace: ns, name }).catch(() => undefined);
  }
}

/** `serverimage restore SERVERIMAGE --as containerdisk`: the VM's one volume, its image. */
async function restoreAsContainerDisk(
  serverImageName: string,
  vmName: string,
): Promise<{ image: string; stderr: string }> {
  const restored = await cli([
    'restore',
    serverImageName,
    '--as',
    'containerdisk',
    '--run-strategy',
    'Always',
    '-n',
    ns,
    '--name',
    vmName,
  ]);
  expect(restored).toMatchObject({ code: 0 });
  const vm = (await bed.client.custom.getNamespacedCustomObject({
    ...VMS,
    namespace: ns,
    name: vmName,
  })) as {
    spec: { template: { spec: { volumes: Array<{ name: string; containerDisk?: { image: string } }> } } };
  };
  const volumes = vm.spec.template.spec.volumes;
  expect(volumes).toEqual([{ name: 'root', containerDisk: { image: expect.any(String) } }]);
  return { image: volumes[0]!.containerDisk!.image, stderr: restored.stderr };
}

/** Waits for the restored VM's guest's marker `(found)`, then deletes the VM. */
async function restoredBootsWithMarker(vmName: string): Promise<number> {
  const asked = Date.now();
  try {
    expect(await marker(vmName, 300_000)).toEqual([markerId, 'found']);
    return Date.now() - asked;
  } finally {
    await bed.client.custom
      .deleteNamespacedCustomObject({ ...VMS, namespace: ns, name: vmName })
      .catch(() => undefined);
  }
}

/** Creates a ServerImage of the VM `proof` and waits for it Active: its images. */
async function imageOf(name: string, spec: Record<string, unknown> = {}): Promise<ImageStatus[]> {
  const asked = Date.now();
  await createServerImage(bed.client, serverImage(ns, name, 'proof', bed.registry, spec));
  const si = await waitForPhase(bed.client, ns, name, 'Active', 300_000);
  times[`${name} Active`] = Date.now() - asked;
  const images = si.status!.images as ImageStatus[];
  expect(images.map((i) => i.volume)).toEqual(['root']);
  made[name] = images;
  return images;
}

/** The manifest of `digest` in the VM's repository, as the registry holds it. */
async function manifestOf(digest: string): Promise<{ layers: Array<{ mediaType: string }> }> {
  const client = new RegistryClient({ repository: `${bed.registry.host}/vms/proof`, insecure: true });
  try {
    return JSON.parse((await client.getManifest(digest)).body.toString('utf8')) as {
      layers: Array<{ mediaType: string }>;
    };
  } finally {
    await client.close();
  }
}

const ref = (image: ImageStatus) => `${bed.registry.host}/vms/proof@${image.digest}`;

maybe(
  'images a running VM, its guest frozen through its agent, as a containerDisk (gzip raw and zstd qcow2) and incrementally (twice)',
  async () => {
    const node = bed.sim.realNode!;
    const custom = bed.client.custom;
    const core = bed.client.core;

    // 1. The VM: its root disk a claim of the real CSI hostpath driver's class on the real
    // node, which a Pod there fills with the guest disk's bytes (disk.img) before the VM
    // starts; the real external-provisioner makes its volume for that Pod's node.
    const started = Date.now();
    await populatedClaim(core, {
      namespace: ns,
      name: 'proof-root',
      file: guestDisk(diskDir),
      size: '64Mi',
      nodeName: node.nodeName,
      image: node.image('csi-hostpath'),
    });
    times['claim populated'] = Date.now() - started;
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
            spec: guestVmiSpec(node.nodeName, { persistentVolumeClaim: { claimName: 'proof-root' } }),
          },
        },
      },
    });
    const [id, state] = await marker('proof', 300_000);
    expect(state).toBe('new');
    markerId = id;
    expect((await vmiOf('proof')).status!.nodeName).toBe(node.nodeName);
    // The claim is a volume of the real driver, provisioned by the real external-provisioner
    // on the real node (the driver's topology), which the real kubelet mounted through the
    // driver's node service (the driver is in the Node's CSINode) and gave to the launcher
    // Pod's fsGroup: QEMU (uid 107) writes disk.img through its group.
    const claim = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'proof-root' });
    const pv = await core.readPersistentVolume({ name: claim.spec!.volumeName! });
    expect(pv.spec!.csi?.driver).toBe(HOSTPATH_DRIVER);
    expect(pv.metadata!.annotations!['pv.kubernetes.io/provisioned-by']).toBe(HOSTPATH_DRIVER);
    expect(pv.spec!.nodeAffinity!.required!.nodeSelectorTerms[0]!.matchExpressions![0]).toEqual({
      key: HOSTPATH_TOPOLOGY_KEY,
      operator: 'In',
      values: [node.nodeName],
    });
    const csiNode = await kubeConfig().makeApiClient(k8s.StorageV1Api).readCSINode({ name: node.nodeName });
    expect(csiNode.spec.drivers.map((d) => d.name)).toContain(HOSTPATH_DRIVER);
    const disk = statSync(path.join(bed.sim.csi!.volumeDir(pv.spec!.csi!.volumeHandle), 'disk.img'));
    expect(disk.gid).toBe(107);
    expect(disk.mode & 0o060).toBe(0o060);
    const booted = Date.now();
    times['VM marker after the claim'] = booted - started;
    // The guest agent connected: KubeVirt's snapshot freezes only through it.
    await until(
      "the VMI's AgentConnected",
      async () =>
        (await vmiOf('proof')).status?.conditions?.some(
          (c: { type: string; status: string }) => c.type === 'AgentConnected' && c.status === 'True',
        ),
      120_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await describeVmi('proof')}`);
    });
    times['agent after the marker'] = Date.now() - booted;

    // 2. The ServerImage of the running VM (default format: gzip, raw): Active, the guest
    // frozen through its agent.
    await imageOf('proof-image');
    const si = (await bed.client.get(SERVERIMAGE, ns, 'proof-image'))!;
    const indications = (si.status!.snapshot as { indications: string[] }).indications;
    expect(indications).toEqual(expect.arrayContaining(['Online', 'GuestAgent']));
    // The agent's own log lines on the serial console (they reach the launcher's log a moment
    // after the calls): frozen, then thawed.
    const originalConsole = await until('the freeze and the thaw on the console', async () => {
      const text = await consoleOf('proof');
      return /guest-fsthaw called/.test(text) && text;
    });
    expect(originalConsole).toMatch(/guest-fsfreeze called[^]*guest-fsthaw called/);
    // The volume snapshot was the real driver's (a tarball of the volume's folder, cut through
    // the real csi-snapshotter), and the export's claim its restore (the tarball unpacked into
    // a new volume, through the real external-provisioner).
    const driverLog = bed.sim.csi!.log('hostpath');
    expect(driverLog).toMatch(/GRPC call: \/csi.v1.Controller\/CreateSnapshot/);
    expect(driverLog).toMatch(/Creating snapshot of Filesystem Mode Volume/);
    expect(driverLog).toMatch(/Command Start: \[tar zxvf \S+\.snap -C /);
    expect(made['proof-image']![0]!.diskFormat).toBe('raw');
    expect((await manifestOf(made['proof-image']![0]!.digest)).layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
    ]);

    // 3. zstd-compressed qcow2: the layer's media type is zstd's, the disk file qcow2.
    const [qcow2] = await imageOf('proof-qcow2', { format: { disk: 'qcow2', compression: 'zstd' } });
    expect(qcow2!.diskFormat).toBe('qcow2');
    expect((await manifestOf(qcow2!.digest)).layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+zstd',
    ]);

    // 4. Two incremental backups in a row: the second uploads only the chunks the running
    // guest changed since the first and reuses the rest (seen: 22 of 64 1 MiB chunks in the
    // first, 42 all zeros; in the second one new chunk of 2.3 KiB, 21 reused).
    const chunked = { format: { layout: 'chunked', compression: 'zstd', disk: 'raw' } };
    const [full] = await imageOf('proof-full', chunked);
    const [incr] = await imageOf('proof-incr', chunked);
    expect(full!.chunked!.reusedChunks).toBe(0);
    expect(full!.chunked!.newChunks).toBeGreaterThan(0);
    expect(incr!.chunked!.chunks).toBe(full!.chunked!.chunks);
    expect(incr!.chunked!.reusedChunks).toBeGreaterThan(0);
    expect(incr!.chunked!.newChunks).toBeLessThan(full!.chunked!.newChunks);
    chunkStats = `full ${JSON.stringify(full!.chunked)}, incremental ${JSON.stringify(incr!.chunked)}`;

    // The original is halted: the images' guests boot one at a time on two cores.
    await custom.patchNamespacedCustomObject(
      { ...VMS, namespace: ns, name: 'proof', body: { spec: { runStrategy: 'Halted' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  },
  1_200_000,
);

maybe(
  "the default image boots as a containerDisk and as `restore --as containerdisk`'s VM, with the guest's marker",
  async () => {
    const [image] = made['proof-image']!;
    // Pulled by the node's containerd from the registry (no import: it is only there).
    times['gzip raw image: VMI create to marker'] = await bootsWithMarker('from-image', ref(image!));
    expect(await bed.sim.realNode!.containerd.ctr(['images', 'ls', '-q'])).toContain(image!.digest);

    const restored = await restoreAsContainerDisk('proof-image', 'proof-restored');
    expect(restored).toEqual({ image: ref(image!), stderr: '' });
    times['gzip raw restore: VM create to marker'] = await restoredBootsWithMarker('proof-restored');
  },
  900_000,
);

maybe(
  "`restore --as datavolume`: the real CDI imports the image in an importer Pod on the real node, and the VM boots with the guest's marker",
  async () => {
    const node = bed.sim.realNode!;
    // Every state of CDI's Pods (it deletes its importer Pod once done): a watch sees them all.
    const pods = new Map<string, k8s.V1Pod>();
    const watching = await new k8s.Watch(kubeConfig()).watch(
      `/api/v1/namespaces/${ns}/pods`,
      { labelSelector: 'app=containerized-data-importer' },
      (_type: string, pod: k8s.V1Pod) => {
        if (pod.status?.phase) pods.set(pod.metadata!.name!, pod);
      },
      () => undefined,
    );
    const asked = Date.now();
    try {
      // On the real CSI driver's class: its volumes are on the real node, where the importer runs.
      const restored = await cli([
        'restore',
        'proof-image',
        '--storage-class',
        HOSTPATH_STORAGE_CLASS,
        '-n',
        ns,
        '--name',
        'proof-dv',
        '--run-strategy',
        'Always',
      ]);
      expect(restored).toMatchObject({ code: 0 });
      // virt-controller makes the DataVolume from the VM's template; CDI's import populator
      // fills its claim through PVC' and an importer Pod (with a scratch claim for a registry).
      await until(
        'the DataVolume proof-dv-root Succeeded',
        async () => {
          const dv = await bed.client.get(DATA_VOLUME, ns, 'proof-dv-root');
          return dv?.status?.phase === 'Succeeded';
        },
        300_000,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}\nCDI's Pods ${JSON.stringify([...pods.values()].map((p) => [p.metadata?.name, p.spec?.nodeName, p.status]))}\n--- cdi-controller:\n${bed.sim.cdi!.process.tail(40)}`,
        );
      });
    } finally {
      watching.abort();
    }
    times['datavolume restore: imported'] = Date.now() - asked;
    // CDI's importer image (cdi-importer and qemu-img) ran to completion on the real node.
    const importer = [...pods.values()].find((p) => p.status?.phase === 'Succeeded');
    expect(importer?.metadata!.name).toMatch(/^importer-prime-/);
    expect(importer!.spec!.nodeName).toBe(node.nodeName);
    expect(importer!.spec!.containers[0]!.image).toBe(node.image('cdi-importer'));
    expect(importer!.status!.containerStatuses![0]!.state!.terminated).toMatchObject({
      exitCode: 0,
      message: expect.stringContaining('Import Complete'),
    });
    times['datavolume restore: VM create to marker'] = await restoredBootsWithMarker('proof-dv');
  },
  900_000,
);

maybe(
  "the zstd qcow2 image boots as a containerDisk (containerd unpacks zstd, QEMU reads qcow2), with the guest's marker",
  async () => {
    const [image] = made['proof-qcow2']!;
    times['zstd qcow2 image: VMI create to marker'] = await bootsWithMarker('from-qcow2', ref(image!));
    expect(await bed.sim.realNode!.containerd.ctr(['images', 'ls', '-q'])).toContain(image!.digest);
  },
  600_000,
);

maybe(
  "the incremental backup, `restore --as containerdisk`: materialized from its chunks, it boots with the guest's marker",
  async () => {
    const [incr] = made['proof-incr']!;
    const asked = Date.now();
    const restored = await restoreAsContainerDisk('proof-incr', 'proof-incr-restored');
    times['incremental restore: materialized'] = Date.now() - asked;
    expect(restored.stderr).toMatch(/Materializing root \(.*, incremental\)/);
    // A containerDisk image of its own (the chunked manifest is no image a runtime reads).
    expect(restored.image).toMatch(new RegExp(`^${bed.registry.host}/vms/proof@sha256:[0-9a-f]{64}$`));
    expect(restored.image).not.toBe(ref(incr!));
    const digest = restored.image.split('@')[1]!;
    expect((await manifestOf(digest)).layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
    ]);
    times['incremental restore: VM create to marker'] = await restoredBootsWithMarker('proof-incr-restored');
    expect(await bed.sim.realNode!.containerd.ctr(['images', 'ls', '-q'])).toContain(digest);
  },
  600_000,
);
