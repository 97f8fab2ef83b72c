// The ServerImage reconciler on KubeVirt's real virt-controller (v1.8.4), the real registry
// (read back with crane and imported by CDI's real importer): from a VirtualMachine to an
// Active image, and what makes it wait or refuse. The VirtualMachineSnapshot, its
// VolumeSnapshots, the VirtualMachineExport with its Secrets, Service and exporter Pod are
// KubeVirt's; the exporter Pod runs on the bed's real node (the real kubelet, containerd,
// KubeVirt's exporter image built here, the restore PVC as a local PV, a CNI Pod network)
// behind the bed's fault proxy per Service, which reaches it through the node's CoreDNS
// (the Service's ClusterIP) and kube-proxy, and the operator reads links.internal
// (https://virt-export-NAME.NS.svc/...) as it is. The simulator keeps the rest of the
// node's part (PVC bytes, CSI snapshots, VMI phases, virt-launcher Pods). A Pod on the node
// reaches an export through the same fault proxy (the node's DNAT to it), and
// fault-export=never-ready refuses the real kubelet's probe in the node's network.
import { execFile } from 'node:child_process';
import { promises as dnsPromises } from 'node:dns';
import { promisify } from 'node:util';
import {
  DATA_VOLUME,
  VM,
  VM_EXPORT,
  VM_SNAPSHOT,
  VOLUME_SNAPSHOT,
  type Obj,
} from '../harness/kubevirt/api.js';
import { importWithCdi } from '../harness/cdi-importer.js';
import { importedDisk, imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { CSI_DRIVER } from '../harness/kubevirt/real/bed.js';
import { POD_BRIDGE } from '../harness/node/cni.js';
import { listRules } from '../harness/node/iptables.js';
import type { RealNode } from '../harness/node/real-node.js';
import { withClusterDns } from '../harness/kubevirt/real/cluster-dns.js';
import { download, until } from '../harness/kubevirt/testing.js';
import { createNamespace } from '../harness/testbed.js';
import { expectStatusByKubelet, recordManagers, recordPodStatus } from './field-managers.js';
import {
  SERVERIMAGE,
  conditionOf,
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  startServerImageBed,
  waitForPhase,
  type ServerImageBed,
  type VmOptions,
} from './serverimage-fixtures.js';

let bed: ServerImageBed;
let ns: string;

const DISK_BYTES = 3 * 1024 * 1024;

/** The image through CDI's registry import, as a DataVolume would get it: the VM's bytes, then zeros. */
async function expectCdiImportsTheDisk(reference: string, sha256: string) {
  // A PVC twice the disk's size: it fits after CDI's 5.5% file-system overhead, and
  // CDI grows the disk to the usable size, so the zero padding is checked too.
  const run = await importWithCdi({ reference, insecure: true, sizeBytes: 2 * DISK_BYTES });
  try {
    expect({ succeeded: run.succeeded, message: run.message }).toEqual({
      succeeded: true,
      message: expect.stringContaining('"message":"Import Complete"'),
    });
    const disk = await importedDisk(run.diskFile, DISK_BYTES);
    expect(disk).toEqual({ size: expect.any(Number), sha256, zeroTail: true });
    expect(disk.size).toBeGreaterThan(DISK_BYTES);
  } finally {
    run.cleanup();
  }
}

async function imageOf(
  bed: ServerImageBed,
  ns: string,
  vm: string,
  options: VmOptions,
  name = `${vm}-image`,
) {
  const shas = await createVm(bed.client, ns, vm, options);
  await createServerImage(
    bed.client,
    serverImage(ns, name, vm, bed.registry, { metadata: { os_distro: 'fedora' } }),
  );
  const si = await waitForPhase(bed.client, ns, name, 'Active');
  return { si, shas };
}

/** A VM in `state` becomes an Active image: bytes read back by crane and CDI, indications, conditions. */
async function expectVmImaged(
  bed: ServerImageBed,
  ns: string,
  vm: string,
  options: VmOptions,
  indications: string[],
  state: string,
) {
  const { registry, crane, client } = bed;
  const { si, shas } = await imageOf(bed, ns, vm, options);
  const ref = `${registry.host}/vms/${vm}:${vm}-image`;
  expect(si.status.images).toEqual([
    expect.objectContaining({ volume: 'rootdisk', reference: ref, diskFormat: 'raw' }),
  ]);
  expect(await crane.digest(ref)).toBe(si.status.images[0].digest);
  expect(await imageDiskSha256(crane, ref)).toBe(shas.rootdisk);
  await expectCdiImportsTheDisk(`${registry.host}/vms/${vm}@${si.status.images[0].digest}`, shas.rootdisk!);
  for (const indication of indications) expect(si.status.snapshot.indications).toContain(indication);
  if (indications.length === 0) expect(si.status.snapshot.indications).toEqual([]);
  expect(si.status.server).toEqual(expect.objectContaining({ statusAtRequest: state, restored: true }));
  expect(conditionOf(si, 'Ready')).toEqual(expect.objectContaining({ status: 'True', reason: 'Active' }));
  expect(conditionOf(si, 'Reconciling')).toBeUndefined();
  expect(conditionOf(si, 'Stalled')).toBeUndefined();
  expect((await client.get(VM, ns, vm))?.status.printableStatus).toBe(state);
  const manifest = (await crane.manifest(ref)) as { annotations: Record<string, string> };
  expect(manifest.annotations).toEqual(
    expect.objectContaining({ 'org.opencontainers.image.title': `${vm}-image` }),
  );
  expect(JSON.stringify(manifest.annotations)).toContain('fedora');
  return si;
}

/** `STATUS SHA256` of `url` as a Node child process under withClusterDns gets it. */
async function downloadInChildProcess(hostsFile: string, url: string, ca: string, token: string) {
  const script = `
    const https = require('node:https');
    const hash = require('node:crypto').createHash('sha256');
    const headers = { 'x-kubevirt-export-token': process.env.TOKEN };
    https
      .get(process.env.URL, { ca: process.env.CA, headers }, (res) => {
        res.on('data', (chunk) => hash.update(chunk));
        res.on('end', () => console.log(res.statusCode + ' ' + hash.digest('hex')));
      })
      .on('error', (err) => console.log('error ' + err.message));`;
  const run = withClusterDns(hostsFile, process.execPath, ['-e', script]);
  const { stdout } = await promisify(execFile)(run.command, run.args, {
    env: { ...process.env, URL: url, CA: ca, TOKEN: token },
  });
  return stdout.trim();
}

beforeAll(async () => {
  // The real node and the longer export timeout it needs are the fixture's default.
  bed = await startServerImageBed([]);
  ns = await createNamespace('si-real');
}, 240_000);

afterAll(() => bed?.stop());

afterEach(async () => {
  await expectNothingLeftBehind(bed.client, ns, [bed.registry]);
  // What virt-controller made for the exports goes with them (the garbage collector),
  // and the kubelet stand-in stops their virt-exportserver processes.
  await until(
    'exporter Pods and their processes to be gone',
    async () =>
      bed.sim.exportServers().length === 0 &&
      (await bed.client.core.listNamespacedPod({ namespace: ns })).items.every(
        (p) => !p.metadata?.name?.startsWith('virt-export-'),
      ),
    30_000,
  );
});

test.each([
  // With an agent virt-controller freezes and thaws the guest through subresources.kubevirt.io.
  ['a running VM with a guest agent', 'run-agent', { agent: true }, ['Online', 'GuestAgent'], 'Running'],
  ['a running VM without an agent', 'run-noagent', {}, ['Online', 'NoGuestAgent'], 'Running'],
  ['a stopped VM', 'stopped', { runStrategy: 'Halted' as const }, [], 'Stopped'],
  // Paused (and with an agent): virt-controller takes it without a freeze.
  ['a paused VM', 'paused', { paused: true, agent: true }, ['Online', 'Paused'], 'Paused'],
])(
  '%s, snapshot and export made by the real virt-controller',
  async (_what, vm, options, indications, state) => {
    const recorder = recordManagers(ns, [VM_SNAPSHOT, VM_EXPORT, VOLUME_SNAPSHOT]);
    const exporterPods = recordPodStatus(ns, 'virt-export-');
    await recorder.start();
    await exporterPods.start();
    try {
      await expectVmImaged(bed, ns, vm, options, indications, state);
    } finally {
      await recorder.stop();
      await exporterPods.stop();
    }
    // The exporter Pod ran on the real node: its status is the real kubelet's (beside
    // kube-scheduler's PodScheduled=False, written only when its first attempt found the
    // restore claim's local PV not there yet: a race the stopped VM's case lost once).
    expectStatusByKubelet(exporterPods.seen(), bed.sim.realNode!.nodeName);
    // Through the real API server's aggregator: freeze before the volumes, thaw after.
    const thawed = bed.sim.freezeCalls.filter((c) => c.namespace === ns && c.name === vm);
    expect(thawed.map((c) => c.action)).toEqual(vm === 'run-agent' ? ['freeze', 'unfreeze'] : []);
    // The status of both was written by KubeVirt's controller only; the operator (our
    // client's default manager name) created them, the simulator wrote nothing. The
    // VolumeSnapshots' status is the real snapshot-controller's (from the contents the
    // simulator's CSI side made ready).
    expect(recorder.managers()).toEqual(
      expect.objectContaining({
        'VirtualMachineSnapshot/status': ['virt-controller'],
        'VirtualMachineExport/status': ['virt-controller'],
        'VolumeSnapshot/status': ['snapshot-controller'],
      }),
    );
  },
);

test('a two-volume VM gives two images, the boot disk under the tag', async () => {
  const { si, shas } = await imageOf(bed, ns, 'two-disks', {
    disks: [
      { volume: 'rootdisk', size: 2 * 1024 * 1024 },
      { volume: 'data', size: 1024 * 1024 },
    ],
  });
  const refs = si.status.images.map((i: { reference: string }) => i.reference);
  expect(refs).toEqual([
    `${bed.registry.host}/vms/two-disks:two-disks-image`,
    `${bed.registry.host}/vms/two-disks:two-disks-image-data`,
  ]);
  expect(await imageDiskSha256(bed.crane, refs[0])).toBe(shas.rootdisk);
  expect(await imageDiskSha256(bed.crane, refs[1])).toBe(shas.data);
});

test('a containerDisk volume is refused before anything is snapshotted', async () => {
  await createVm(bed.client, ns, 'with-containerdisk', {
    extraVolumes: [{ name: 'scratch', containerDisk: { image: 'quay.io/containerdisks/fedora:40' } }],
  });
  await createServerImage(
    bed.client,
    serverImage(ns, 'with-containerdisk-image', 'with-containerdisk', bed.registry),
  );
  const si = await waitForPhase(bed.client, ns, 'with-containerdisk-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('UnsupportedVolume');
  expect(conditionOf(si, 'Ready')?.message).toContain('scratch');
  expect(await bed.client.get(VM_SNAPSHOT, ns, 'with-containerdisk-image')).toBeUndefined();
  expect(conditionOf(si, 'Snapshotted')).toBeUndefined();
});

test('a missing VM ends in ServerNotFound after the wait', async () => {
  await createServerImage(bed.client, serverImage(ns, 'no-vm-image', 'no-such-vm', bed.registry));
  const queued = await waitForPhase(bed.client, ns, 'no-vm-image', 'Queued');
  expect(conditionOf(queued, 'Ready')?.reason).toBe('WaitingForServer');
  expect(conditionOf(queued, 'Reconciling')).toEqual(
    expect.objectContaining({ status: 'True', reason: 'WaitingForServer' }),
  );
  const si = await waitForPhase(bed.client, ns, 'no-vm-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('ServerNotFound');
  expect(conditionOf(si, 'Stalled')).toEqual(
    expect.objectContaining({ status: 'True', reason: 'ServerNotFound' }),
  );
  expect(conditionOf(si, 'Reconciling')).toBeUndefined();
});

test('a VM that appears within the wait is imaged', async () => {
  await createServerImage(bed.client, serverImage(ns, 'late-vm-image', 'late-vm', bed.registry));
  await waitForPhase(bed.client, ns, 'late-vm-image', 'Queued');
  await createVm(bed.client, ns, 'late-vm');
  await waitForPhase(bed.client, ns, 'late-vm-image', 'Active');
});

// printable-status=Migrating makes the virt-handler stand-in play a live migration (the
// VMI's migrationState started, ended once the switch goes): virt-controller itself shows
// the VM Migrating meanwhile (README #30).
test('a Migrating VM that becomes Running in time is imaged', async () => {
  await createVm(bed.client, ns, 'migrating', { annotations: { [Ann.printableStatus]: 'Migrating' } });
  await createServerImage(bed.client, serverImage(ns, 'migrating-image', 'migrating', bed.registry));
  const queued = await waitForPhase(bed.client, ns, 'migrating-image', 'Queued');
  expect(conditionOf(queued, 'Ready')?.reason).toBe('WaitingForServerState');
  await bed.client.annotate(VM, ns, 'migrating', { [Ann.printableStatus]: null });
  const si = await waitForPhase(bed.client, ns, 'migrating-image', 'Active');
  expect(si.status.server).toEqual(expect.objectContaining({ statusAtRequest: 'Running' }));
});

test('a VM stuck Migrating ends in InvalidServerState', async () => {
  await createVm(bed.client, ns, 'stuck', { annotations: { [Ann.printableStatus]: 'Migrating' } });
  await createServerImage(bed.client, serverImage(ns, 'stuck-image', 'stuck', bed.registry));
  const si = await waitForPhase(bed.client, ns, 'stuck-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('InvalidServerState');
  expect(conditionOf(si, 'Ready')?.message).toContain('Migrating');
});

test('a VM shown Stopped with runStrategy Always is about to start: waited for, imaged Running', async () => {
  // virt-controller shows a runStrategy Always VM Stopped whenever it has no VMI and
  // expects none (isVirtualMachineStatusStopped; seen for one sync right after a VM's
  // DataVolume became ready, #25). Held there on purpose: a ResourceQuota of no VMIs, so
  // the API server refuses virt-controller's VMI (README #31).
  const { client, registry } = bed;
  const quota = 'count/virtualmachineinstances.kubevirt.io';
  const created = await client.core.createNamespacedResourceQuota({
    namespace: ns,
    body: { metadata: { name: 'no-vmis' }, spec: { hard: { [quota]: '0' } } },
  });
  // The bed runs no quota controller (kube-controller-manager's resourcequota): its status
  // as that controller writes it, which the API server's quota admission enforces.
  await client.core.replaceNamespacedResourceQuotaStatus({
    namespace: ns,
    name: 'no-vmis',
    body: { ...created, status: { hard: { [quota]: '0' }, used: { [quota]: '0' } } },
  });
  try {
    await client.createDiskPvc(ns, 'starting-rootdisk', { size: '1Mi' });
    await client.createVm(ns, 'starting', {
      runStrategy: 'Always',
      volumes: [{ name: 'rootdisk', persistentVolumeClaim: { claimName: 'starting-rootdisk' } }],
    });
    const refused = await client.waitFor(VM, ns, 'starting', (o) =>
      (o.status?.conditions ?? []).some(
        (c: { type: string; message?: string }) =>
          c.type === 'Failure' && /exceeded quota/.test(c.message ?? ''),
      ),
    );
    expect(refused.status.printableStatus).toBe('Stopped');
    await createServerImage(client, serverImage(ns, 'starting-image', 'starting', registry));
    const queued = await waitForPhase(client, ns, 'starting-image', 'Queued');
    await until('the operator to wait for the start', async () => {
      const si = await client.get(SERVERIMAGE, ns, 'starting-image');
      return /Stopped with runStrategy Always \(about to start\)/.test(
        conditionOf(si!, 'Ready')?.message ?? '',
      );
    });
    expect(conditionOf(queued, 'Snapshotted')).toBeUndefined();
  } finally {
    await client.core.deleteNamespacedResourceQuota({ namespace: ns, name: 'no-vmis' });
  }
  // virt-controller retries the VMI with its backoff; a change to the VM syncs it at once.
  await client.annotate(VM, ns, 'starting', { 'test/quota-lifted': 'true' });
  const si = await waitForPhase(client, ns, 'starting-image', 'Active');
  expect(si.status.server).toEqual(expect.objectContaining({ statusAtRequest: 'Running', restored: true }));
});

test('two images of one VM run one after the other', async () => {
  await createVm(bed.client, ns, 'twice');
  await createServerImage(bed.client, serverImage(ns, 'twice-a', 'twice', bed.registry));
  await createServerImage(bed.client, serverImage(ns, 'twice-b', 'twice', bed.registry));
  const phases = new Set<string>();
  const reasonsOfB = new Set<string>();
  const watcher = setInterval(() => {
    void Promise.all([
      bed.client.get(SERVERIMAGE, ns, 'twice-a'),
      bed.client.get(SERVERIMAGE, ns, 'twice-b'),
    ]).then(([a, b]) => {
      phases.add(`${a?.status?.phase}/${b?.status?.phase}`);
      if (b) reasonsOfB.add(conditionOf(b, 'Ready')?.reason ?? '');
    });
  }, 20);
  try {
    await waitForPhase(bed.client, ns, 'twice-a', 'Active');
    await waitForPhase(bed.client, ns, 'twice-b', 'Active');
  } finally {
    clearInterval(watcher);
  }
  expect(phases.has('Saving/Saving')).toBe(false);
  expect(reasonsOfB.has('WaitingForOtherImage')).toBe(true);
});

const ROUTED_SIZE = 1024 * 1024;

/**
 * The Service proxy's byte faults on a routed export (set on the export, read first):
 * a connection cut after N bytes on the wire that Range resumes where it broke (what the
 * operator's resume relies on), and pacing that is a floor on the time, bytes exact.
 */
async function expectProxyFaults(url: string, cert: string, token: string, sha: string) {
  const N = 100_000;
  // What the cut costs besides body bytes: the TLS handshake, the headers, record framing.
  const overhead = 16 * 1024;
  await bed.client.annotate(VM_EXPORT, ns, 'routed', { [Ann.faultDropAfterBytes]: String(N) });
  const cut = await until('the drop fault seen', async () => {
    const got = await download(url, cert, { token });
    return got.aborted ? got : undefined;
  });
  expect(cut.status).toBe(200);
  expect(cut.bytes).toBeLessThan(N);
  expect(cut.bytes).toBeGreaterThan(N - overhead);
  const resumed = await download(url, cert, { token, headers: { Range: `bytes=${cut.bytes}-` } });
  expect(resumed).toMatchObject({ status: 206, aborted: true });
  expect(resumed.headers['content-range']).toBe(`bytes ${cut.bytes}-${ROUTED_SIZE - 1}/${ROUTED_SIZE}`);
  await bed.client.annotate(VM_EXPORT, ns, 'routed', {
    [Ann.faultDropAfterBytes]: null,
    [Ann.faultBytesPerSecond]: String(512 * 1024),
  });
  await until('the pacing fault seen', async () => {
    const started = Date.now();
    const got = await download(url, cert, { token });
    // 1 MiB at 512 KiB/s cannot arrive in under ~1.5 s; the pacing is a floor, not a race.
    return got.sha256 === sha && !got.aborted && Date.now() - started >= 1500;
  });
  await bed.client.annotate(VM_EXPORT, ns, 'routed', { [Ann.faultBytesPerSecond]: null });
}

/**
 * A stopped VM with a 1 MiB disk, its VirtualMachineSnapshot (waited until Succeeded) and an
 * export of that snapshot, all named `name`, made by hand as a user would; the disk's sha256.
 */
async function exportOfSnapshot(
  name: string,
  annotations: { vm?: Record<string, string>; export?: Record<string, string> } = {},
): Promise<string> {
  const { client } = bed;
  const sha = await client.createDiskPvc(ns, `${name}-rootdisk`, { size: '1Mi' });
  await client.createVm(ns, name, {
    annotations: annotations.vm,
    volumes: [{ name: 'rootdisk', persistentVolumeClaim: { claimName: `${name}-rootdisk` } }],
  });
  await client.waitForVmStatus(ns, name, 'Stopped');
  const source = { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name };
  await client.create(VM_SNAPSHOT, ns, { metadata: { name }, spec: { source } });
  await client.waitFor(VM_SNAPSHOT, ns, name, (o) => o.status?.phase === 'Succeeded');
  await client.create(VM_EXPORT, ns, {
    metadata: { name, annotations: annotations.export },
    spec: { source: { apiGroup: 'snapshot.kubevirt.io', kind: 'VirtualMachineSnapshot', name } },
  });
  return sha;
}

test('the bed routes virt-export-NAME.NS.svc to the exporter Pod, here and in processes it starts, with the fault switches at its proxy (errors, drops, pacing)', async () => {
  const { client } = bed;
  const sha = await exportOfSnapshot('routed', {
    export: { [Ann.faultHttpErrors]: '1', [Ann.faultHttpStatus]: '502' },
  });
  try {
    const ready = await client.waitFor(VM_EXPORT, ns, 'routed', (o) => o.status?.phase === 'Ready');
    const raw = ready.status.links.internal.volumes[0].formats.find(
      (f: { format: string }) => f.format === 'raw',
    );
    expect(raw.url).toBe(`https://virt-export-routed.${ns}.svc/volumes/routed-routed-rootdisk/disk.img`);
    const secret = await client.core.readNamespacedSecret({
      namespace: ns,
      name: ready.status.tokenSecretRef,
    });
    const token = Buffer.from(secret.data!.token!, 'base64').toString();
    const cert = ready.status.links.internal.cert;
    // Its Pod is a container on the real node, in its Pod network; the route to it is the
    // node's: CoreDNS answers the Service's name with its ClusterIP, and kube-proxy's rules
    // (in the node's network namespace) send that to the Pod's IP and port.
    const node = bed.sim.realNode!;
    const pod = await client.core.readNamespacedPod({ namespace: ns, name: 'virt-export-routed' });
    expect(pod.spec?.nodeName).toBe(node.nodeName);
    expect(pod.status?.podIP?.startsWith(node.network.podSubnet.replace(/0\/24$/, ''))).toBe(true);
    const service = await client.core.readNamespacedService({ namespace: ns, name: 'virt-export-routed' });
    const resolver = new dnsPromises.Resolver();
    resolver.setServers([node.dns.ip]);
    expect(await resolver.resolve4(`virt-export-routed.${ns}.svc.cluster.local`)).toEqual([
      service.spec!.clusterIP,
    ]);
    // kube-proxy writes the Pod's rule on its next sync (later on a loaded machine).
    const natRules = async () =>
      (
        await promisify(execFile)('nsenter', [
          `--net=${node.network.path}`,
          '--',
          'iptables-save',
          '-t',
          'nat',
        ])
      ).stdout;
    const dnat = `-j DNAT --to-destination ${pod.status!.podIP}:8443`;
    await until(
      "kube-proxy to write the exporter Pod's rule",
      async () => (await natRules()).includes(dnat),
      30_000,
    ).catch(() => undefined);
    expect(await natRules()).toContain(dnat);
    expect((await download(raw.url, cert, { token })).status).toBe(502);
    expect(await download(raw.url, cert, { token })).toEqual(
      expect.objectContaining({ status: 200, sha256: sha, aborted: false }),
    );
    expect((await download(raw.url, cert, { token: 'wrong' })).status).toBe(401);
    await expectProxyFaults(raw.url, cert, token, sha);
    // A process the bed starts (as the operator process) resolves the name through its
    // own /etc/hosts, not through this process's lookup hook.
    expect(await downloadInChildProcess(bed.sim.hostsFile, raw.url, cert, token)).toBe(`200 ${sha}`);
  } finally {
    await client.delete(VM_EXPORT, ns, 'routed');
    await client.delete(VM_SNAPSHOT, ns, 'routed');
  }
});

test('a Pod on the node reaches virt-export-NAME.NS.svc through the same fault proxy (the node DNATs it there)', async () => {
  const { client } = bed;
  const node = bed.sim.realNode!;
  const sha = await exportOfSnapshot('from-pod', {
    export: { [Ann.faultHttpErrors]: '1', [Ann.faultHttpStatus]: '503' },
  });
  try {
    const ready = await client.waitFor(VM_EXPORT, ns, 'from-pod', (o) => o.status?.phase === 'Ready');
    const url = ready.status.links.internal.volumes[0].formats.find(
      (f: { format: string }) => f.format === 'raw',
    ).url;
    const secret = await client.core.readNamespacedSecret({
      namespace: ns,
      name: ready.status.tokenSecretRef,
    });
    const token = Buffer.from(secret.data!.token!, 'base64').toString();
    // The node's rule, first in its nat PREROUTING (before kube-proxy's KUBE-SERVICES jump).
    const service = await client.core.readNamespacedService({ namespace: ns, name: 'virt-export-from-pod' });
    const prerouting = await listRules(node.network, 'nat', 'PREROUTING');
    expect(prerouting[1]).toContain(`-d ${service.spec!.clusterIP}/32 -i ${POD_BRIDGE} -p tcp`);
    expect(prerouting[1]).toContain(`-j DNAT --to-destination ${node.network.hostIp}:`);
    // The armed error goes to the first connection, the Pod's (the exporter itself answers no 503).
    const lines = await runOnNode(node, 'from-pod-client', downloadTwiceScript, {
      URL: url,
      CA: ready.status.links.internal.cert,
      TOKEN: token,
    });
    expect(lines).toEqual(['503', `200 ${sha}`]);
  } finally {
    await client.delete(VM_EXPORT, ns, 'from-pod');
    await client.delete(VM_SNAPSHOT, ns, 'from-pod');
  }
  await until('the node rule gone with the Service', async () =>
    (await listRules(node.network, 'nat', 'PREROUTING')).every((r) => !r.includes('from-pod')),
  );
});

/** Two GETs of URL, one line each: the status, and the body's sha256 when 200. */
const downloadTwiceScript = `
  const https = require('node:https');
  const get = () => new Promise((resolve) => {
    const hash = require('node:crypto').createHash('sha256');
    const headers = { 'x-kubevirt-export-token': process.env.TOKEN };
    https
      .get(process.env.URL, { ca: process.env.CA, headers }, (res) => {
        res.on('data', (chunk) => hash.update(chunk));
        res.on('end', () => resolve(res.statusCode === 200 ? '200 ' + hash.digest('hex') : String(res.statusCode)));
      })
      .on('error', (err) => resolve('error ' + err.message));
  });
  (async () => { console.log(await get()); console.log(await get()); })();`;

/** Runs `script` in node, in a Pod of the operator's image on the real node; its log's lines. */
async function runOnNode(node: RealNode, name: string, script: string, env: Record<string, string>) {
  const { client } = bed;
  await node.imported();
  await client.core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name },
      spec: {
        nodeName: node.nodeName,
        restartPolicy: 'Never',
        containers: [
          {
            name: 'client',
            image: node.image('operator'),
            imagePullPolicy: 'Never',
            command: ['node', '-e', script],
            env: Object.entries(env).map(([k, value]) => ({ name: k, value })),
          },
        ],
      },
    },
  });
  try {
    const done = await until(
      `Pod ${name} to finish`,
      async () => {
        const pod = await client.core.readNamespacedPod({ namespace: ns, name });
        return ['Succeeded', 'Failed'].includes(pod.status?.phase ?? '') ? pod : undefined;
      },
      60_000,
    );
    const log = await client.core.readNamespacedPodLog({ namespace: ns, name });
    expect(done.status?.phase).toBe('Succeeded');
    return log.split('\n').filter(Boolean);
  } finally {
    await client.core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
  }
}

test('fault-export=never-ready: the node refuses the real kubelet the exporter Pod probe, virt-controller holds the export Pending', async () => {
  const { client } = bed;
  const node = bed.sim.realNode!;
  await exportOfSnapshot('unready', { vm: { [Ann.faultExport]: 'never-ready' } });
  try {
    const readyReason = (o: Obj) =>
      (o.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Ready')?.reason;
    // The Pod runs but never passes its probe: KubeVirt says Pending, Ready=False "Unknown".
    await client.waitFor(VM_EXPORT, ns, 'unready', (o) => readyReason(o) === 'Unknown');
    const pod = await client.core.readNamespacedPod({ namespace: ns, name: 'virt-export-unready' });
    expect(pod.spec?.nodeName).toBe(node.nodeName);
    expect(await listRules(node.network, 'filter', 'OUTPUT')).toContainEqual(
      expect.stringContaining(`-d ${pod.status!.podIP}/32 -p tcp -m tcp --dport 8443`),
    );
    // Past the probe's initial delay and a period: the kubelet has probed and failed.
    await new Promise((r) => setTimeout(r, 12_000));
    const running = await client.core.readNamespacedPod({ namespace: ns, name: 'virt-export-unready' });
    expect(running.status?.phase).toBe('Running');
    expect(running.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
    const held = await client.get(VM_EXPORT, ns, 'unready');
    expect({ phase: held?.status?.phase, reason: readyReason(held!) }).toEqual({
      phase: 'Pending',
      reason: 'Unknown',
    });
    await client.annotate(VM, ns, 'unready', { [Ann.faultExport]: null });
    await client.waitFor(VM_EXPORT, ns, 'unready', (o) => o.status?.phase === 'Ready');
  } finally {
    await client.delete(VM_EXPORT, ns, 'unready');
    await client.delete(VM_SNAPSHOT, ns, 'unready');
  }
});

test('a VM applied after its ServerImage (as the demo does), its DataVolume adopting the existing PVC: imaged Running', async () => {
  const { client, registry, crane } = bed;
  // As the demo applies examples/: the ServerImage first, then the disk and a VM whose
  // dataVolumeTemplate names it. virt-controller makes the DataVolume anyway (with
  // allowClaimAdoption, CDI then adopts the PVC), and may show the VM Stopped for a moment
  // between the DataVolume's Succeeded and its VMI: the operator waits that out (here a matter of
  // timing; the "Stopped with runStrategy Always" case above holds that state on purpose).
  await createServerImage(client, serverImage(ns, 'late-image', 'late', registry));
  const sha = await client.createDiskPvc(ns, 'late-rootdisk', { size: '1Mi' });
  await client.create(VM, ns, {
    metadata: { name: 'late' },
    spec: {
      runStrategy: 'Always',
      dataVolumeTemplates: [
        {
          metadata: { name: 'late-rootdisk' },
          spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Mi' } } } },
        },
      ],
      template: {
        spec: {
          domain: { devices: {}, resources: { requests: { memory: '64Mi' } } },
          volumes: [{ name: 'rootdisk', dataVolume: { name: 'late-rootdisk' } }],
        },
      },
    },
  });
  const si = await waitForPhase(client, ns, 'late-image', 'Active');
  expect(si.status.server).toEqual(expect.objectContaining({ statusAtRequest: 'Running', restored: true }));
  expect(await imageDiskSha256(crane, si.status.images[0].reference)).toBe(sha);
  const dv = await client.get(DATA_VOLUME, ns, 'late-rootdisk');
  expect(dv?.metadata.annotations?.['cdi.kubevirt.io/allowClaimAdoption']).toBe('true');
  const pvc = await client.core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'late-rootdisk' });
  expect(pvc.metadata?.ownerReferences).toEqual([
    expect.objectContaining({ kind: 'DataVolume', name: 'late-rootdisk', controller: true }),
  ]);
});

test('a PVC gets its PV from the simulator as CSI provisioner, bound by the real PV controller, and both go', async () => {
  const { client } = bed;
  await client.createDiskPvc(ns, 'provisioned', { size: '1Mi' });
  const bound = await until('the PVC Bound', async () => {
    const pvc = await client.core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'provisioned' });
    return pvc.status?.phase === 'Bound' ? pvc : undefined;
  });
  const pvName = `pvc-${bound.metadata!.uid}`;
  expect(bound.spec?.volumeName).toBe(pvName);
  // kube-controller-manager asked our driver for the volume, and bound the claim to it.
  expect(bound.metadata?.annotations).toEqual(
    expect.objectContaining({
      'volume.kubernetes.io/storage-provisioner': CSI_DRIVER,
      'pv.kubernetes.io/bind-completed': 'yes',
    }),
  );
  const statusManagers = (bound.metadata?.managedFields ?? [])
    .filter((f) => f.subresource === 'status')
    .map((f) => f.manager);
  expect(statusManagers).toEqual(['kube-controller-manager']);
  const pv = await client.core.readPersistentVolume({ name: pvName });
  expect(pv.spec?.csi?.driver).toBe(CSI_DRIVER);
  expect(pv.spec?.claimRef).toEqual(
    expect.objectContaining({ name: 'provisioned', uid: bound.metadata!.uid }),
  );
  // Deleted: pvc-protection lets the claim go, the PV controller releases the PV, the
  // provisioner deletes it (reclaim policy Delete), pv-protection lets it go.
  await client.core.deleteNamespacedPersistentVolumeClaim({ namespace: ns, name: 'provisioned' });
  await until(
    'the PV gone',
    async () => !(await client.core.readPersistentVolume({ name: pvName }).catch(() => undefined)),
  );
});
