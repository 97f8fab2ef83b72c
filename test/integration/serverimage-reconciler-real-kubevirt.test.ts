// The reconciler suite's four VM-state cases (running with and without agent, stopped, paused) on KubeVirt's real
// virt-controller (v1.8.4): the VirtualMachineSnapshot, its VolumeSnapshots, the
// VirtualMachineExport with its Secrets, Service and exporter Pod are KubeVirt's; the
// exporter Pod runs as the real virt-exportserver behind the bed's Service routing, and
// the operator reads links.internal (https://virt-export-NAME.NS.svc/...) as it is.
// The simulator keeps the node's part (PVC bytes, CSI snapshots, VMI phases).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  DATA_VOLUME,
  VM,
  VM_EXPORT,
  VM_SNAPSHOT,
  VOLUME_SNAPSHOT,
  type Obj,
} from '../harness/kubevirt/api.js';
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { CSI_DRIVER, type RealKubevirt } from '../harness/kubevirt/real/bed.js';
import { withClusterDns } from '../harness/kubevirt/real/cluster-dns.js';
import { download, until } from '../harness/kubevirt/testing.js';
import { createNamespace } from '../harness/testbed.js';
import { recordManagers } from './field-managers.js';
import {
  createServerImage,
  expectNothingLeftBehind,
  serverImage,
  startServerImageBed,
  waitForPhase,
  type ServerImageBed,
} from './serverimage-fixtures.js';
import { expectVmImaged } from './serverimage-reconciler-cases.js';

let bed: ServerImageBed;
let ns: string;

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
  bed = await startServerImageBed([], { realKubevirt: true });
  ns = await createNamespace('si-real');
}, 180_000);

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
    await recorder.start();
    try {
      await expectVmImaged(bed, ns, vm, options, indications, state);
    } finally {
      await recorder.stop();
    }
    // Through the real API server's aggregator: freeze before the volumes, thaw after.
    const thawed = (bed.sim as RealKubevirt).freezeCalls.filter((c) => c.namespace === ns && c.name === vm);
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

test('the bed routes virt-export-NAME.NS.svc to the exporter Pod, here and in processes it starts, with the fault switches at its proxy', async () => {
  const { client } = bed;
  const sha = await client.createDiskPvc(ns, 'routed-rootdisk', { size: '1Mi' });
  await client.createVm(ns, 'routed', {
    volumes: [{ name: 'rootdisk', persistentVolumeClaim: { claimName: 'routed-rootdisk' } }],
  });
  await client.waitForVmStatus(ns, 'routed', 'Stopped');
  const source = { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: 'routed' };
  await client.create(VM_SNAPSHOT, ns, { metadata: { name: 'routed' }, spec: { source } });
  await client.waitFor(VM_SNAPSHOT, ns, 'routed', (o) => o.status?.phase === 'Succeeded');
  await client.create(VM_EXPORT, ns, {
    metadata: { name: 'routed', annotations: { [Ann.faultHttpErrors]: '1', [Ann.faultHttpStatus]: '502' } },
    spec: { source: { apiGroup: 'snapshot.kubevirt.io', kind: 'VirtualMachineSnapshot', name: 'routed' } },
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
    expect((await download(raw.url, cert, { token })).status).toBe(502);
    expect(await download(raw.url, cert, { token })).toEqual(
      expect.objectContaining({ status: 200, sha256: sha, aborted: false }),
    );
    expect((await download(raw.url, cert, { token: 'wrong' })).status).toBe(401);
    // A process the bed starts (as the operator process) resolves the name through its
    // own /etc/hosts, not through this process's lookup hook.
    expect(await downloadInChildProcess((bed.sim as RealKubevirt).hostsFile, raw.url, cert, token)).toBe(
      `200 ${sha}`,
    );
  } finally {
    await client.delete(VM_EXPORT, ns, 'routed');
    await client.delete(VM_SNAPSHOT, ns, 'routed');
  }
});

test('fault-export=never-ready keeps the exporter Pod unready: virt-controller holds the export Pending', async () => {
  const { client } = bed;
  await client.createDiskPvc(ns, 'unready-rootdisk', { size: '1Mi' });
  await client.createVm(ns, 'unready', {
    annotations: { [Ann.faultExport]: 'never-ready' },
    volumes: [{ name: 'rootdisk', persistentVolumeClaim: { claimName: 'unready-rootdisk' } }],
  });
  await client.waitForVmStatus(ns, 'unready', 'Stopped');
  const source = { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: 'unready' };
  await client.create(VM_SNAPSHOT, ns, { metadata: { name: 'unready' }, spec: { source } });
  await client.waitFor(VM_SNAPSHOT, ns, 'unready', (o) => o.status?.phase === 'Succeeded');
  await client.create(VM_EXPORT, ns, {
    metadata: { name: 'unready' },
    spec: { source: { apiGroup: 'snapshot.kubevirt.io', kind: 'VirtualMachineSnapshot', name: 'unready' } },
  });
  try {
    const readyReason = (o: Obj) =>
      (o.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Ready')?.reason;
    // The Pod runs but never passes its probe: KubeVirt says Pending, Ready=False "Unknown".
    await client.waitFor(VM_EXPORT, ns, 'unready', (o) => readyReason(o) === 'Unknown');
    await new Promise((r) => setTimeout(r, 2000));
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
  // between the DataVolume's Succeeded and its VMI: the operator waits that out (the
  // simulator's suite has that case on purpose; here it is a matter of timing).
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
