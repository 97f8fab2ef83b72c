// A round trip through CDI's real importer: a containerDisk in the registry, a standalone
// DataVolume importing it with the real cdi-importer (the simulator's registry importer),
// a VM on that DataVolume, and the operator's image of the VM: it holds exactly the disk
// CDI wrote (the source disk, then the zeros CDI grows it with to the PVC's usable size).
// On KubeVirt's real virt-controller: it gives the VM its status from the DataVolume and
// takes the snapshot and export; CDI's part (the import) stays the simulator's, run by the
// real cdi-importer. The DataVolume's disk is also cdi-importer.test.ts's check of the
// harness's importer as a DataVolume's registry importer.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeDisk } from '../harness/disks.js';
import { imageDiskSha256, importedDisk } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { DATA_VOLUME } from '../harness/kubevirt/api.js';
import { cdiRegistryImporter } from '../harness/kubevirt/cdi-registry-importer.js';
import { createNamespace, kubectl } from '../harness/testbed.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import {
  createServerImage,
  expectNothingLeftBehind,
  serverImage,
  startServerImageBed,
  waitForPhase,
  type ServerImageBed,
} from './serverimage-fixtures.js';

const MiB = 1024 * 1024;
let bed: ServerImageBed;
let ns: string;
let work: string;
let recorder: ReturnType<typeof recordManagers> | undefined;

beforeAll(async () => {
  bed = await startServerImageBed([], { registryImporter: cdiRegistryImporter() });
  ns = await createNamespace('si-cdi');
  work = mkdtempSync(path.join(os.tmpdir(), 'si-cdi-'));
  recorder = recordManagers(ns);
  await recorder.start();
}, 180_000); // the real-controller bed starts in 12-25 s, more on a loaded machine

afterAll(async () => {
  if (recorder) {
    await recorder.stop();
    // The snapshot and export of the image: their status was virt-controller's alone.
    expectStatusByVirtController(recorder);
  }
  await bed?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('a DataVolume imported by cdi-importer, used by a VM, becomes an image of what CDI wrote', async () => {
  const size = 3 * MiB + 4096;
  mkdirSync(path.join(work, 'disk'));
  const source = await writeDisk(path.join(work, 'disk', 'disk.img'), { size, seed: 'roundtrip' });
  execFileSync('tar', ['-C', work, '-cf', path.join(work, 'layer.tar'), 'disk']);
  await bed.crane.appendLayer(path.join(work, 'layer.tar'), `${bed.registry.host}/golden/alpine:v1`);

  const applied = await kubectl(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: { name: 'alpine-root' },
      spec: {
        source: { registry: { url: `docker://${bed.registry.host}/golden/alpine:v1` } },
        storage: { resources: { requests: { storage: '8Mi' } } },
      },
    }),
  );
  expect(applied.stderr).toBe('');
  await bed.client.waitFor(
    DATA_VOLUME,
    ns,
    'alpine-root',
    (o) => o.status?.phase === 'Succeeded',
    'Succeeded',
  );
  // What CDI wrote: the source disk's bytes, then zeros up to 8Mi less the filesystem overhead.
  expect(await importedDisk(bed.sim.diskFile(ns, 'alpine-root')!, size)).toEqual({
    size: 7 * MiB,
    sha256: source.sha256,
    zeroTail: true,
  });
  const pvc = await bed.client.core.readNamespacedPersistentVolumeClaim({
    namespace: ns,
    name: 'alpine-root',
  });

  await bed.client.createVm(ns, 'alpine', {
    volumes: [{ name: 'rootdisk', dataVolume: { name: 'alpine-root' } }],
  });
  await bed.client.waitForVmStatus(ns, 'alpine', 'Stopped');
  await createServerImage(bed.client, serverImage(ns, 'alpine-image', 'alpine', bed.registry));
  const si = await waitForPhase(bed.client, ns, 'alpine-image', 'Active');
  expect(await imageDiskSha256(bed.crane, si.status.images[0].reference)).toBe(
    pvc.metadata?.annotations?.[Ann.diskSha256],
  );
  await expectNothingLeftBehind(bed.client, ns, [bed.registry]);
});
