// Boot verification (issue 24, stage 4) on real VMs: the in-process operator images two
// stopped VMs whose disks are claims on the bed, with spec.verify.boot. The first holds the
// bootable guest disk (build-images.sh's vm-guest): its image boots as the operator's
// throw-away VMI on the real node (real virt-handler, virt-launcher, QEMU; the node's
// containerd pulls the containerDisk from the bed's registry by digest), its guest agent
// connects, the ServerImage records Verified, and the VMI is deleted. The second holds the
// same disk with its boot sector zeroed: QEMU runs, nothing boots, no agent; with a 60s
// timeout the ServerImage records VerificationFailed saying why, and no VMI is left. The
// operator runs with --max-concurrent-verifications=1: the two images become Active about
// together, one boots while the other waits for the slot, and no two VMIs exist at once.
// Gated like real-vm-backup.test.ts (SERVERIMAGE_REAL_VMS=1; the VM images are built first).
import { copyFileSync, openSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import type { Obj } from '../harness/kubevirt/api.js';
import { until } from '../harness/kubevirt/testing.js';
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
  conditionOf,
  createServerImage,
  serverImage,
  type ServerImageBed,
} from './serverimage-fixtures.js';

const maybe = REAL_VMS_ENABLED ? it : it.skip;

let real: RealVmBed;
let bed: ServerImageBed;
let ns: string;
let diskDir: string;
let times: Record<string, number>;
/** The most verification VMIs any poll saw at once (the limit is 1). */
let mostVmisAtOnce = 0;

beforeAll(async () => {
  if (!REAL_VMS_ENABLED) return;
  real = await startRealVmBed('verify', ['--max-concurrent-verifications=1']);
  ({ bed, ns, diskDir, times } = real);
}, 900_000);

afterAll(() => real?.stop());

/**
 * A stopped VM on the real node whose one disk is a claim of the real CSI driver's class
 * holding the bytes of `diskFile`.
 */
async function stoppedVm(name: string, diskFile: string): Promise<void> {
  const node = bed.sim.realNode!;
  await populatedClaim(bed.client.core, {
    namespace: ns,
    name: `${name}-root`,
    file: diskFile,
    size: '64Mi',
    nodeName: node.nodeName,
    image: node.image('csi-hostpath'),
  });
  await bed.client.custom.createNamespacedCustomObject({
    ...VMS,
    namespace: ns,
    body: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name },
      spec: {
        runStrategy: 'Halted',
        template: {
          // The verification VMI takes the VM's placement: the real node, where QEMU runs.
          spec: guestVmiSpec(bed.sim.realNode!.nodeName, {
            persistentVolumeClaim: { claimName: `${name}-root` },
          }),
        },
      },
    },
  });
  await bed.client.waitForVmStatus(ns, name, 'Stopped');
}

type Verification = { result: string; startTime: string; completionTime?: string; message?: string };
type Vmi = Obj & {
  spec: {
    domain: { devices: { interfaces?: unknown[]; autoattachPodInterface?: boolean } };
    volumes: Array<{ containerDisk?: { image: string } }>;
  };
};

/**
 * Waits for the ServerImage's verification to end; meanwhile records the throw-away VMI as
 * it was seen (to check its spec) and when the image became Active.
 */
async function verificationOf(name: string, timeoutMs: number) {
  let vmiSeen: Vmi | undefined;
  let activeAt: number | undefined;
  const si = await until(
    `ServerImage ${name}'s verification`,
    async () => {
      const si = await bed.client.get(SERVERIMAGE, ns, name);
      if (si?.status?.phase === 'Error')
        throw new Error(`${name} Error: ${JSON.stringify(si.status.conditions)}`);
      if (si?.status?.phase === 'Active') activeAt ??= Date.now();
      const vmis = (await bed.client.custom.listNamespacedCustomObject({ ...VMI, namespace: ns })) as {
        items: Vmi[];
      };
      mostVmisAtOnce = Math.max(
        mostVmisAtOnce,
        vmis.items.filter((v) => !v.metadata.deletionTimestamp).length,
      );
      vmiSeen ??= vmis.items.find((v) => v.metadata.name.startsWith(`${name}-`));
      const v = si?.status?.verification as Verification | undefined;
      return v && v.result !== 'Verifying' ? si : undefined;
    },
    timeoutMs,
  ).catch(async (err: Error) => {
    const si = await bed.client.get(SERVERIMAGE, ns, name);
    throw new Error(`${err.message}\nlast status: ${JSON.stringify(si?.status, null, 1)}`);
  });
  return { si, vmiSeen, activeAt: activeAt ?? Date.now() };
}

const noVmiLeft = () =>
  until(
    'no verification VMI left',
    async () =>
      ((await bed.client.custom.listNamespacedCustomObject({ ...VMI, namespace: ns })) as { items: Obj[] })
        .items.length === 0,
    60_000,
  );

/** From Active (status.completionTime) to the verification's result, by the status' own times (1s). */
const statusSpan = (si: Obj) =>
  new Date((si.status!.verification as Verification).completionTime!).getTime() -
  new Date(si.status!.completionTime as string).getTime();

const eventsOf = async (name: string, reason: string) =>
  (
    await bed.client.core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: `involvedObject.name=${name},involvedObject.kind=ServerImage`,
    })
  ).items.filter((e) => e.reason === reason);

maybe(
  'an image of a bootable VM: Active, then Verified (its throw-away VMI booted, the agent connected), the VMI gone, an Event',
  async () => {
    const good = guestDisk(diskDir);
    const bad = path.join(diskDir, 'no-boot-sector.img');
    copyFileSync(good, bad);
    const fd = openSync(bad, 'r+');
    writeSync(fd, Buffer.alloc(512), 0, 512, 0);
    closeSync(fd);
    await stoppedVm('good', good);
    await stoppedVm('noboot', bad);

    const asked = Date.now();
    await createServerImage(
      bed.client,
      serverImage(ns, 'good-image', 'good', bed.registry, { verify: { boot: { timeout: '4m' } } }),
    );
    // The second, started now too: its export and push overlap the first's boot.
    await createServerImage(
      bed.client,
      serverImage(ns, 'noboot-image', 'noboot', bed.registry, { verify: { boot: { timeout: '60s' } } }),
    );
    const { si, vmiSeen, activeAt } = await verificationOf('good-image', 420_000);
    times['good: create to Active'] = activeAt - asked;
    times['good: Active to Verified (seen)'] = Date.now() - activeAt;
    times['good: Active to Verified (status times)'] = statusSpan(si);
    expect(si.status!.phase).toBe('Active');
    const verification = si.status!.verification as Verification;
    expect(verification).toMatchObject({
      result: 'Verified',
      message: expect.stringMatching(/^Booted: the guest agent connected after /),
    });
    expect(new Date(verification.completionTime!).getTime()).toBeGreaterThanOrEqual(
      new Date(verification.startTime).getTime(),
    );
    expect(conditionOf(si, 'Verified')).toMatchObject({ status: 'True', reason: 'BootVerified' });
    expect(conditionOf(si, 'Ready')).toMatchObject({ status: 'True' });
    // The VMI as the operator made it: the boot image by digest, no network, owned by the image.
    const digest = (si.status!.images as Array<{ digest: string }>)[0]!.digest;
    expect(vmiSeen?.metadata.name).toMatch(/^good-image-[0-9a-f]{8}-verify$/);
    expect(vmiSeen!.spec.volumes[0]!.containerDisk!.image).toBe(`${bed.registry.host}/vms/good@${digest}`);
    // (The API server drops the empty interfaces and networks lists.)
    expect(vmiSeen!.spec.domain.devices.autoattachPodInterface).toBe(false);
    expect(vmiSeen!.spec.domain.devices.interfaces ?? []).toEqual([]);
    expect(vmiSeen!.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'ServerImage', name: 'good-image', controller: true }),
    ]);
    // The operator records the event after its status write: wait for it.
    const verifiedEvents = await until('the BootVerified event', async () => {
      const events = await eventsOf('good-image', 'BootVerified');
      return events.length > 0 && events;
    });
    expect(verifiedEvents.length).toBe(1);
    // The VMI goes with the result.
    await until(
      `VMI ${vmiSeen!.metadata.name} gone`,
      async () =>
        !(
          (await bed.client.custom.listNamespacedCustomObject({ ...VMI, namespace: ns })) as { items: Obj[] }
        ).items.some((v) => v.metadata.name === vmiSeen!.metadata.name),
      60_000,
    );
  },
  900_000,
);

maybe(
  'an image of a disk that cannot boot (boot sector zeroed): VerificationFailed after its 60s timeout, saying why; no VMI left',
  async () => {
    const { si } = await verificationOf('noboot-image', 420_000);
    const verification = si.status!.verification as Verification;
    expect(si.status!.phase).toBe('Active');
    expect(verification.result).toBe('VerificationFailed');
    expect(verification.message).toMatch(/^Did not boot within 1m: the guest agent did not connect; phase /);
    const took =
      new Date(verification.completionTime!).getTime() - new Date(verification.startTime).getTime();
    times['noboot: start to VerificationFailed'] = took;
    times['noboot: Active to VerificationFailed (status times)'] = statusSpan(si);
    expect(took).toBeGreaterThanOrEqual(60_000);
    expect(took).toBeLessThan(90_000);
    expect(conditionOf(si, 'Verified')).toMatchObject({ status: 'False', reason: 'BootFailed' });
    const [event] = await until('the BootFailed event', async () => {
      const events = await eventsOf('noboot-image', 'BootFailed');
      return events.length > 0 && events;
    });
    expect(event).toMatchObject({ type: 'Warning', message: verification.message });
    await noVmiLeft();
  },
  600_000,
);

maybe(
  '--max-concurrent-verifications=1: one VMI at a time; the image that waited said so, and its timeout started with its slot',
  async () => {
    const [good, noboot] = await Promise.all(
      ['good-image', 'noboot-image'].map((name) => bed.client.get(SERVERIMAGE, ns, name)),
    );
    const span = (si: Obj | undefined) => {
      const v = si!.status!.verification as Verification;
      return { name: si!.metadata.name, start: Date.parse(v.startTime), end: Date.parse(v.completionTime!) };
    };
    const [first, second] = [span(good), span(noboot)].sort((a, b) => a.start - b.start);
    times['second verification started after the first ended (ms)'] = second!.start - first!.end;
    // The status times are whole seconds: the slot is given back in the reconcile that records
    // the first result, so the second may start within the same second.
    expect(second!.start).toBeGreaterThanOrEqual(first!.end);
    expect(mostVmisAtOnce).toBe(1);
    const waited = await eventsOf(second!.name, 'WaitingForVerificationSlot');
    expect(waited).toEqual([
      expect.objectContaining({
        type: 'Normal',
        message: 'Waiting for a free verification slot (1 at once) before booting the image',
      }),
    ]);
  },
  60_000,
);
