// The "a VM becomes an Active image with its exact bytes" case, shared by the reconciler
// suite on the simulator (serverimage-reconciler.test.ts) and on KubeVirt's real
// virt-controller (serverimage-reconciler-real-kubevirt.test.ts).
import { importWithCdi } from '../harness/cdi-importer.js';
import { importedDisk, imageDiskSha256 } from '../harness/images.js';
import { VM } from '../harness/kubevirt/api.js';
import {
  conditionOf,
  createServerImage,
  createVm,
  serverImage,
  waitForPhase,
  type ServerImageBed,
  type VmOptions,
} from './serverimage-fixtures.js';

export const DISK_BYTES = 3 * 1024 * 1024;

/** The image through CDI's registry import, as a DataVolume would get it: the VM's bytes, then zeros. */
export async function expectCdiImportsTheDisk(reference: string, sha256: string) {
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

export async function imageOf(
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
export async function expectVmImaged(
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
