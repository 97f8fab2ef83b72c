// serverimage restore end to end (issue 13): a VM with a PVC disk and a DataVolume disk is
// imaged, then restored into other namespaces - from its ServerImage, from -o yaml applied
// with kubectl, and from a bare registry reference once the ServerImage is gone - and the
// restored DataVolumes are imported by CDI's real importer from our registry.
// On KubeVirt's real virt-controller: it makes the original's and every restored VM's
// DataVolumes from their templates and runs the containerDisk VM; CDI (the simulator's
// DataVolume controller with the real cdi-importer) and the node stay the simulator's.
import { copyFile } from 'node:fs/promises';
import { importWithCdi } from '../harness/cdi-importer.js';
import type { Crane } from '../harness/crane.js';
import { importedDisk } from '../harness/images.js';
import { DATA_VOLUME, VM, type Obj } from '../harness/kubevirt/api.js';
import type { RegistryImporter } from '../harness/kubevirt/registry-import.js';
import type { RealKubevirt } from '../harness/kubevirt/real/bed.js';
import { type SimTestClient, until } from '../harness/kubevirt/testing.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { createNamespace, kubectl } from '../harness/testbed.js';
import { cli } from './cli-fixtures.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import {
  bedRegistryOptions,
  SERVERIMAGE,
  createServerImage,
  serverImage,
  startServerImageBed,
  waitForPhase,
  type ServerImageBed,
} from './serverimage-fixtures.js';

const MiB = 2 ** 20;
const INSTANCETYPE_API = { group: 'instancetype.kubevirt.io', version: 'v1beta1' };
const MAC = '02:00:00:12:34:56';
const UUID = '5d307ca9-b3ef-428c-8861-06e72d69f223';

/** The simulator's DataVolume controller importing with the real cdi-importer. */
const cdiImporter: RegistryImporter = async (job) => {
  const run = await importWithCdi({
    reference: job.reachableUrl,
    insecure: true,
    sizeBytes: job.sizeBytes,
    // The simulated PVC is exactly the size asked for (the `storage` API's overhead is CDI's
    // business on a real cluster): all of it is usable.
    filesystemOverhead: 0,
  });
  try {
    if (!run.succeeded) throw new Error(`cdi-importer: ${run.message}`);
    await copyFile(run.diskFile, job.targetFile);
  } finally {
    run.cleanup();
  }
};

let bed: ServerImageBed;
let sim: RealKubevirt;
let registry: TestRegistry;
let crane: Crane;
let client: SimTestClient;
let ns: string;
let original: Obj;
let image: Obj;
/** The original disks: sha256 and length of each volume's bytes. */
const disks: Record<string, { sha256: string; length: number }> = {};

beforeAll(async () => {
  // A short VM-state bound, for the VM that KubeVirt marks failed (its image waits that long).
  bed = await startServerImageBed(['--server-state-timeout=20s'], { registryImporter: cdiImporter });
  ({ sim, registry, crane, client } = bed);
  ns = await createNamespace('restore-src');
  // virt-controller expands a VM's instancetype and preference (KubeVirt's common
  // u1.small and fedora), and makes no DataVolume of a VM whose instancetype it cannot find.
  await client.custom.createClusterCustomObject({
    ...INSTANCETYPE_API,
    plural: 'virtualmachineclusterinstancetypes',
    body: {
      apiVersion: 'instancetype.kubevirt.io/v1beta1',
      kind: 'VirtualMachineClusterInstancetype',
      metadata: { name: 'u1.small' },
      spec: { cpu: { guest: 1 }, memory: { guest: '2Gi' } },
    },
  });
  await client.custom.createClusterCustomObject({
    ...INSTANCETYPE_API,
    plural: 'virtualmachineclusterpreferences',
    body: {
      apiVersion: 'instancetype.kubevirt.io/v1beta1',
      kind: 'VirtualMachineClusterPreference',
      metadata: { name: 'fedora' },
      spec: { devices: { preferredDiskBus: 'virtio' } },
    },
  });

  await client.createDiskPvc(ns, 'web-rootdisk', { size: String(3 * MiB), seed: 'root' });
  await client.createDiskPvc(ns, 'golden', { size: String(2 * MiB), seed: 'golden' });
  await client.create(VM, ns, {
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      runStrategy: 'Halted',
      instancetype: { name: 'u1.small', kind: 'VirtualMachineClusterInstancetype' },
      preference: { name: 'fedora', kind: 'VirtualMachineClusterPreference' },
      dataVolumeTemplates: [
        {
          metadata: { name: 'web-data' },
          spec: { source: { pvc: { namespace: ns, name: 'golden' } }, storage: {} },
        },
      ],
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          domain: {
            firmware: { uuid: UUID },
            devices: {
              disks: [
                { name: 'rootdisk', disk: { bus: 'virtio' }, bootOrder: 1 },
                { name: 'datadisk', disk: { bus: 'virtio' } },
              ],
              interfaces: [{ name: 'default', masquerade: {}, macAddress: MAC }],
            },
          },
          networks: [{ name: 'default', pod: {} }],
          volumes: [
            { name: 'rootdisk', persistentVolumeClaim: { claimName: 'web-rootdisk' } },
            { name: 'datadisk', dataVolume: { name: 'web-data' } },
          ],
        },
      },
    },
  });
  await client.waitFor(DATA_VOLUME, ns, 'web-data', (o) => o.status?.phase === 'Succeeded');
  await client.waitForVmStatus(ns, 'web', 'Stopped');
  original = (await client.get(VM, ns, 'web'))!;
  for (const [volume, pvc] of [
    ['rootdisk', 'web-rootdisk'],
    ['datadisk', 'web-data'],
  ] as const) {
    const length = volume === 'rootdisk' ? 3 * MiB : 2 * MiB;
    disks[volume] = { length, sha256: (await importedDisk(sim.diskFile(ns, pvc)!, length)).sha256 };
  }

  const recorder = recordManagers(ns);
  await recorder.start();
  try {
    await createServerImage(client, serverImage(ns, 'web-image', 'web', registry));
    image = await waitForPhase(client, ns, 'web-image', 'Active', 120_000);
  } finally {
    await recorder.stop();
  }
  expectStatusByVirtController(recorder);
}, 300_000);

afterAll(async () => {
  await bed?.stop();
  crane?.cleanup();
});

const boot = () => `${registry.host}/vms/web:web-image`;

/** The restored VM's spec, as the original's but for what a restore must change. */
function expectedSpec(name: string, options: { newIdentity?: boolean } = {}) {
  const spec = structuredClone(original.spec);
  const digestOf = (volume: string) =>
    (image.status.images as { volume: string; digest: string }[]).find((i) => i.volume === volume)!.digest;
  const sizeOf = (volume: string) => String(disks[volume]!.length);
  spec.template.spec.volumes = [
    { name: 'rootdisk', dataVolume: { name: `${name}-rootdisk` } },
    { name: 'datadisk', dataVolume: { name: `${name}-datadisk` } },
  ];
  spec.dataVolumeTemplates = ['rootdisk', 'datadisk'].map((volume) => ({
    metadata: { name: `${name}-${volume}` },
    spec: {
      source: { registry: { url: `docker://${registry.host}/vms/web@${digestOf(volume)}` } },
      storage: { resources: { requests: { storage: sizeOf(volume) } } },
    },
  }));
  if (options.newIdentity) {
    delete spec.template.spec.domain.firmware.uuid;
    delete spec.template.spec.domain.devices.interfaces[0].macAddress;
  }
  return spec;
}

/**
 * A restored VM once virt-controller has synced it (it has a printableStatus): what it
 * writes into a VM's spec (#2) is there, so the comparison does not race it.
 */
async function synced(namespace: string, name: string): Promise<Obj> {
  return client.waitFor(VM, namespace, name, (o) => Boolean(o.status?.printableStatus));
}

/** Each restored DataVolume imported by cdi-importer holds the original disk's bytes, then zeros. */
async function expectRestoredDisks(namespace: string, name: string) {
  for (const volume of ['rootdisk', 'datadisk']) {
    const dv = `${name}-${volume}`;
    await until(
      `DataVolume ${namespace}/${dv} Succeeded`,
      async () => (await client.get(DATA_VOLUME, namespace, dv))?.status?.phase === 'Succeeded',
      120_000,
    );
    const file = sim.diskFile(namespace, `${name}-${volume}`)!;
    const restored = await importedDisk(file, disks[volume]!.length);
    expect({ volume, sha256: restored.sha256, zeroTail: restored.zeroTail }).toEqual({
      volume,
      sha256: disks[volume]!.sha256,
      zeroTail: true,
    });
  }
}

async function nothingIn(namespace: string) {
  const vms = (await client.custom.listNamespacedCustomObject({ ...VM, namespace })) as { items: Obj[] };
  const secrets = await client.core.listNamespacedSecret({ namespace });
  return {
    vms: vms.items.length,
    secrets: secrets.items.filter((s) => s.type !== 'kubernetes.io/service-account-token').length,
  };
}

test('the image carries its VM: an artifact on the boot image, and the instancetype hints in its config', async () => {
  expect(image.status.vmArtifact.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  // Distribution has no referrers API: the tag schema lists the artifact.
  const bootDigest = image.status.images[0].digest as string;
  const index = await crane.manifest(`${registry.host}/vms/web:${bootDigest.replace(':', '-')}`);
  expect(index.manifests).toEqual([
    expect.objectContaining({
      digest: image.status.vmArtifact.digest,
      artifactType: 'application/vnd.serverimage.io.vm.v1+json',
    }),
  ]);
  const artifact = await crane.manifest(`${registry.host}/vms/web@${image.status.vmArtifact.digest}`);
  expect(artifact.subject).toMatchObject({ digest: bootDigest });
  const config = (await crane.config(boot())) as {
    config: { Env?: string[]; Labels?: Record<string, string> };
  };
  expect(config.config.Env).toEqual([
    'INSTANCETYPE_KUBEVIRT_IO_DEFAULT_INSTANCETYPE=u1.small',
    'INSTANCETYPE_KUBEVIRT_IO_DEFAULT_INSTANCETYPE_KIND=VirtualMachineClusterInstancetype',
    'INSTANCETYPE_KUBEVIRT_IO_DEFAULT_PREFERENCE=fedora',
    'INSTANCETYPE_KUBEVIRT_IO_DEFAULT_PREFERENCE_KIND=VirtualMachineClusterPreference',
  ]);
});

/** `serverimage restore SOURCE -n TARGET --name VM [flags]`: the shape every case here runs. */
const restore = (source: string, target: string, vm: string, ...flags: string[]) =>
  cli(['restore', source, ...flags, '-n', target, '--name', vm]);

/** Restore of the test's ServerImage (in the source namespace) as web2. */
const restoreImage = (target: string, ...flags: string[]) =>
  restore('web-image', target, 'web2', '--from-namespace', ns, ...flags);

test('restore SERVERIMAGE into another namespace: CDI imports each disk, the spec is the original', async () => {
  const target = await createNamespace('restore-dv');
  const result = await restoreImage(target);
  expect(result).toMatchObject({ code: 0, stderr: '' });
  expect(result.stdout).toContain(`virtualmachine/web2 created in namespace ${target}`);
  process.stdout.write(
    `\n--- terminal capture ---\n$ serverimage restore web-image --from-namespace ${ns} -n ${target} --name web2\n${result.stdout}---\n`,
  );
  const vm = await synced(target, 'web2');
  expect(vm.metadata.labels).toEqual({ app: 'web' });
  expect(vm.spec).toEqual(expectedSpec('web2'));
  await expectRestoredDisks(target, 'web2');
}, 300_000);

test('-o yaml applied with kubectl gives the same VM; --new-identity clears MAC and firmware UUID', async () => {
  const target = await createNamespace('restore-yaml');
  const printed = await restoreImage(target, '-o', 'yaml');
  expect(printed).toMatchObject({ code: 0, stderr: '' });
  expect(await nothingIn(target)).toEqual({ vms: 0, secrets: 0 });
  const applied = await kubectl(['apply', '-f', '-'], printed.stdout);
  expect(applied).toMatchObject({ code: 0, stderr: '' });
  expect((await synced(target, 'web2')).spec).toEqual(expectedSpec('web2'));

  const fresh = await createNamespace('restore-id');
  const renewed = await restoreImage(fresh, '--new-identity');
  expect(renewed.code).toBe(0);
  const renewedSpec = (await synced(fresh, 'web2')).spec;
  // A VM without a firmware UUID may get a new one from virt-controller (#2), never the original's.
  expect(renewedSpec.template.spec.domain.firmware.uuid).not.toBe(UUID);
  delete renewedSpec.template.spec.domain.firmware.uuid;
  expect(renewedSpec).toEqual(expectedSpec('web2', { newIdentity: true }));
}, 120_000);

test('--as containerdisk: an ephemeral VM booting the images by digest, applied with kubectl', async () => {
  const target = await createNamespace('restore-cd');
  const printed = await restoreImage(
    target,
    '--as',
    'containerdisk',
    '--run-strategy',
    'Always',
    '-o',
    'yaml',
  );
  expect(printed).toMatchObject({ code: 0, stderr: '' });
  expect(await kubectl(['apply', '-f', '-'], printed.stdout)).toMatchObject({ code: 0, stderr: '' });
  const vm = await synced(target, 'web2');
  const expected = structuredClone(original.spec);
  delete expected.dataVolumeTemplates;
  expected.runStrategy = 'Always';
  expected.template.spec.volumes = (image.status.images as { volume: string; digest: string }[]).map((i) => ({
    name: i.volume,
    containerDisk: { image: `${registry.host}/vms/web@${i.digest}` },
  }));
  expect(vm.spec).toEqual(expected);
  // virt-controller starts it: a VMI and virt-launcher Pod for the containerDisks, Running.
  await client.waitForVmStatus(target, 'web2', 'Running');
}, 120_000);

test('bad references: one line, exit 1, nothing created', async () => {
  const target = await createNamespace('restore-bad');
  const cases: [string[], RegExp][] = [
    [[`${registry.host}/vms/web:no-such-tag`, '--insecure'], /no such image/],
    [[`${registry.host}/vms/web:web-image-datadisk`, '--insecure'], /has no VM definition attached/],
    [['no-such-image'], /NotFound/],
  ];
  for (const [args, message] of cases) {
    const [source, ...flags] = args as [string, ...string[]];
    const result = await restore(source, target, 'web3', ...flags);
    expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 1, stdout: '' });
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    process.stdout.write(
      `$ serverimage restore ${args.join(' ')} -n ${target} --name web3\n${result.stderr}`,
    );
  }

  const secured = await startRegistry(bedRegistryOptions(bed.sim, { auth: 'basic' }));
  try {
    await client.core.createNamespacedSecret({
      namespace: target,
      body: {
        metadata: { name: 'wrong' },
        type: 'kubernetes.io/basic-auth',
        stringData: { username: 'tester', password: 'wrong-password' },
      },
    });
    const refused = await restore(
      `${secured.host}/vms/web:web-image`,
      target,
      'web3',
      '--insecure',
      '--credentials',
      'wrong',
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/refused the credentials/);
  } finally {
    await secured.stop();
  }
  expect(await nothingIn(target)).toEqual({ vms: 0, secrets: 1 });
}, 120_000);

test('restore from a bare registry reference, the ServerImage deleted, in a fresh namespace: the same VM', async () => {
  await client.custom.deleteNamespacedCustomObject({ ...SERVERIMAGE, namespace: ns, name: 'web-image' });
  await until(
    'ServerImage web-image gone',
    async () => !(await client.get(SERVERIMAGE, ns, 'web-image')),
    30_000,
  );
  const target = await createNamespace('restore-ref');
  const result = await restore(boot(), target, 'web2', '--insecure');
  expect(result).toMatchObject({ code: 0, stderr: '' });
  expect((await synced(target, 'web2')).spec).toEqual(expectedSpec('web2'));
  await expectRestoredDisks(target, 'web2');
}, 300_000);

/** A VM named `name` in `namespace` on a fresh 1 MiB disk, with `spec` merged in (instancetype, template). */
type Json = Record<string, unknown>;
interface Cond {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

async function createSmallVm(namespace: string, name: string, spec: Json, domain: Json = {}) {
  await client.createDiskPvc(namespace, `${name}-rootdisk`, { size: String(MiB), seed: name });
  await client.create(VM, namespace, {
    metadata: { name },
    spec: {
      runStrategy: 'Halted',
      ...spec,
      template: {
        spec: {
          domain: { ...domain, devices: { disks: [{ name: 'rootdisk', disk: { bus: 'virtio' } }] } },
          volumes: [{ name: 'rootdisk', persistentVolumeClaim: { claimName: `${name}-rootdisk` } }],
        },
      },
    },
  });
}

test('restore into a namespace without the VM namespaced instancetype and preference: refused, what to do said, nothing created', async () => {
  const namespaced = {
    instancetype: { apiVersion: 'instancetype.kubevirt.io/v1beta1', kind: 'VirtualMachineInstancetype' },
    preference: { apiVersion: 'instancetype.kubevirt.io/v1beta1', kind: 'VirtualMachinePreference' },
  };
  const instancetype = (namespace: string) => ({
    ...namespaced.instancetype,
    metadata: { name: 'team-small', namespace },
    spec: { cpu: { guest: 1 }, memory: { guest: '1Gi' } },
  });
  const preference = (namespace: string) => ({
    ...namespaced.preference,
    metadata: { name: 'team-linux', namespace },
    spec: { devices: { preferredDiskBus: 'virtio' } },
  });
  const create = async (namespace: string) => {
    for (const [plural, body] of [
      ['virtualmachineinstancetypes', instancetype(namespace)],
      ['virtualmachinepreferences', preference(namespace)],
    ] as const)
      await client.custom.createNamespacedCustomObject({ ...INSTANCETYPE_API, namespace, plural, body });
  };
  await create(ns);
  await createSmallVm(ns, 'team', {
    instancetype: { name: 'team-small', kind: 'VirtualMachineInstancetype' },
    preference: { name: 'team-linux', kind: 'VirtualMachinePreference' },
  });
  await client.waitForVmStatus(ns, 'team', 'Stopped');
  await createServerImage(client, serverImage(ns, 'team-image', 'team', registry));
  await waitForPhase(client, ns, 'team-image', 'Active', 120_000);

  const target = await createNamespace('restore-nsit');
  const refused = await restore('team-image', target, 'team2', '--from-namespace', ns);
  expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code: 1, stdout: '' });
  expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(refused.stderr).toContain(
    `the VM names VirtualMachineInstancetype team-small and VirtualMachinePreference team-linux, which namespace ${target} does not have, and KubeVirt would make nothing for it`,
  );
  expect(refused.stderr).toContain(`Nothing was created: copy them into namespace ${target} first`);
  expect(refused.stderr).toContain(
    `(kubectl get virtualmachineinstancetype/team-small virtualmachinepreference/team-linux -n ${ns} -o yaml, then create them in ${target}`,
  );
  expect(refused.stderr).toMatch(/or have the VM name cluster-wide ones/);
  process.stdout.write(
    `$ serverimage restore team-image --from-namespace ${ns} -n ${target} --name team2\n${refused.stderr}`,
  );
  expect(await nothingIn(target)).toEqual({ vms: 0, secrets: 0 });

  // Copied as the message says: the restore goes through.
  await create(target);
  const restored = await restore('team-image', target, 'team2', '--from-namespace', ns);
  expect(restored).toMatchObject({ code: 0, stderr: '' });
  expect(restored.stdout).toContain(`virtualmachine/team2 created in namespace ${target}`);
}, 180_000);

test('a VM whose spec conflicts with its instancetype: virt-controller marks it failed; the image says so in its words at once, and ends in them past the VM-state bound', async () => {
  // u1.small sets the guest's CPUs; a VM that sets them too is refused by virt-controller
  // (virt-api's webhook, which would refuse it at create time, does not run here).
  await createSmallVm(
    ns,
    'conflict',
    { instancetype: { name: 'u1.small', kind: 'VirtualMachineClusterInstancetype' } },
    { cpu: { sockets: 2 } },
  );
  const failed = await client.waitFor(VM, ns, 'conflict', (o) =>
    (o.status?.conditions ?? []).some((c: Cond) => c.type === 'Failure' && c.status === 'True'),
  );
  const failure = (failed.status.conditions as Cond[]).find((c) => c.type === 'Failure')!;
  process.stdout.write(`\n[virt-controller's Failure condition] ${failure.reason}: ${failure.message}\n`);

  const words = `VirtualMachine conflict is Stopped and KubeVirt marks it failed (${failure.reason}: ${failure.message}); no image can be made of it until that is fixed`;
  const started = Date.now();
  await createServerImage(client, serverImage(ns, 'conflict-image', 'conflict', registry));
  // At once: waiting, in KubeVirt's words (a quota's refusal clears by itself; this does not).
  const waiting = await client.waitFor(SERVERIMAGE, ns, 'conflict-image', (o) =>
    ((o.status?.conditions ?? []) as Cond[]).some(
      (c) => c.type === 'Ready' && c.reason === 'WaitingForServerState' && c.message?.startsWith(words),
    ),
  );
  const sawMs = Date.now() - started;
  expect(waiting.status.phase).toBe('Queued');
  const si = await waitForPhase(client, ns, 'conflict-image', 'Error', 60_000);
  const tookMs = Date.now() - started;
  const ready = (si.status.conditions as Cond[]).find((c) => c.type === 'Ready')!;
  expect(ready).toMatchObject({ reason: 'ServerFailed', message: expect.stringContaining(words) });
  // It ended in Queued: no snapshot was taken, no export waited for.
  expect(si.status.snapshot).toBeUndefined();
  const snapshots = (await client.custom.listNamespacedCustomObject({
    group: 'snapshot.kubevirt.io',
    version: 'v1beta1',
    namespace: ns,
    plural: 'virtualmachinesnapshots',
  })) as { items: Obj[] };
  expect(snapshots.items.filter((s) => s.spec.source.name === 'conflict')).toEqual([]);
  process.stdout.write(
    `[ServerImage conflict-image] KubeVirt's words after ${sawMs} ms; Error after ${tookMs} ms: ${ready.reason}: ${ready.message}\n`,
  );
}, 120_000);
