// Uploads that finish what they start (issue 9): the registry killed mid-upload and
// restarted; every image still reaches Active with its bytes, no upload session is left
// open in the registry's storage, no completed blob goes up twice, and the images waiting
// for the dead registry back off together instead of hammering it in turn.
// On KubeVirt's real virt-controller: six running VMs, their snapshots and exports its
// (the exports paced at the bed's Service proxy in front of the real exporter Pods).
import { createHash } from 'node:crypto';
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { until } from '../harness/kubevirt/testing.js';
import { type ProxiedRequest } from '../harness/fault-proxy.js';
import { createNamespace } from '../harness/testbed.js';
import { TRANSFER_POD_SELECTOR } from '../../src/controllers/serverimage/transfer-pods.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import {
  SERVERIMAGE,
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  waitForPhase,
  serverImageTestFile,
} from './serverimage-fixtures.js';

const MiB = 1024 * 1024;
const bed = serverImageTestFile({
  operatorFlags: [
    '--max-concurrent-exports=3',
    '--registry-retry-timeout=180s',
    '--export-timeout=60s',
    '--snapshot-timeout=60s',
  ],
});

/** Blob uploads the registry completed (PUT ...?digest= answered 201), by digest. */
/** sha256 of `{}`, the OCI empty descriptor's blob (the VM artifact's config). */
const EMPTY_BLOB_DIGEST = `sha256:${createHash('sha256').update('{}').digest('hex')}`;

function completedBlobUploads(requests: ProxiedRequest[]): Map<string, number> {
  const byDigest = new Map<string, number>();
  for (const r of requests) {
    const digest = /[?&]digest=(sha256(?::|%3A)[0-9a-f]{64})/i.exec(r.path)?.[1]?.replace(/%3A/i, ':');
    if (r.method === 'PUT' && r.status === 201 && digest)
      byDigest.set(digest, (byDigest.get(digest) ?? 0) + 1);
  }
  return byDigest;
}

test('a layer completed before a failure is not sent again: HEAD, then only the manifest', async () => {
  const ns = await createNamespace('si-resend');
  const shas = await createVm(bed.client, ns, 'resend', { disks: [{ volume: 'rootdisk', size: 2 * MiB }] });
  const before = bed.registry.requests.length;
  // Every manifest PUT fails for a while: the layer and config are in, the image is not.
  // As many as the client's own retries of one request: the transfer fails once, then works.
  bed.registry.faults!.respond(503, { method: 'PUT', pathIncludes: '/manifests/', times: 5 });
  await createServerImage(bed.client, serverImage(ns, 'resend-image', 'resend', bed.registry));
  const si = await waitForPhase(bed.client, ns, 'resend-image', 'Active', 90_000);
  const requests = bed.registry.requests.slice(before);
  expect(requests.some((r) => r.injected && r.method === 'PUT')).toBe(true);
  expect(await imageDiskSha256(bed.crane, si.status.images[0].reference)).toBe(shas.rootdisk);
  const uploads = completedBlobUploads(requests);
  // One layer, one config, and the VM artifact's empty config and VM definition (issue 13).
  expect([...uploads.values()]).toEqual([1, 1, 1, 1]);
  // The retry asked the registry before sending: a HEAD of the layer after the failure.
  const firstFailure = requests.findIndex((r) => r.injected);
  const manifest = (await bed.crane.manifest(si.status.images[0].reference)) as {
    layers: { digest: string }[];
  };
  const layerDigest = manifest.layers[0]!.digest;
  expect(
    requests.slice(firstFailure).some((r) => r.method === 'HEAD' && r.path.includes(`/blobs/${layerDigest}`)),
  ).toBe(true);
  await expectNothingLeftBehind(bed.client, ns, [bed.registry]);
});

test('the bed.registry killed mid-upload and restarted: all Active, no session left open, no blob sent twice', async () => {
  const ns = await createNamespace('si-outage');
  const recorder = recordManagers(ns);
  await recorder.start();
  const vms = Array.from({ length: 6 }, (_, i) => `outage-${i}`);
  const shas = await Promise.all(
    vms.map((vm) =>
      createVm(bed.client, ns, vm, {
        disks: [{ volume: 'rootdisk', size: 4 * MiB }],
        annotations: { [Ann.faultBytesPerSecond]: String(MiB) },
      }),
    ),
  );
  const before = bed.registry.requests.length;
  await Promise.all(
    vms.map((vm) => createServerImage(bed.client, serverImage(ns, `${vm}-image`, vm, bed.registry))),
  );
  // Kill it while uploads are open.
  await until(
    'uploads under way',
    async () => {
      const images = await Promise.all(vms.map((vm) => bed.client.get(SERVERIMAGE, ns, `${vm}-image`)));
      return images.filter((si) => (si?.status?.progress?.bytesDone ?? 0) > MiB).length >= 2;
    },
    90_000,
  );
  expect(bed.registry.openUploads().length).toBeGreaterThan(0);
  // Transfer Pods under way when the registry goes (printed): each winds down with its own
  // retries (resume, then cancel its session); on a loaded machine the images waiting for a
  // transfer slot get theirs within the outage too, and wind down the same way.
  const pods = await bed.client.core.listNamespacedPod({
    namespace: ns,
    labelSelector: TRANSFER_POD_SELECTOR,
  });
  const underWay = pods.items.filter(
    (p) => p.status?.phase === 'Running' || p.status?.phase === 'Pending',
  ).length;
  await bed.registry.kill();
  const killedAt = Date.now();
  const OUTAGE_MS = 20_000;
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
  const duringOutage = bed.registry.requests.filter((r) => r.at >= killedAt).length;
  await bed.registry.restart();

  const images = await Promise.all(
    vms.map((vm) => waitForPhase(bed.client, ns, `${vm}-image`, 'Active', 180_000)),
  );
  for (const [i, si] of images.entries()) {
    expect(await imageDiskSha256(bed.crane, si.status.images[0].reference)).toBe(shas[i]!.rootdisk);
  }
  process.stderr.write(
    `\n[outage] ${vms.length} images, ${underWay} transfer Pods under way, bed.registry down ${OUTAGE_MS / 1000}s: ${duringOutage} requests reached it meanwhile (${(duringOutage / vms.length).toFixed(1)} an image)\n`,
  );
  // No session a client was told of (its Location passed back, or named by a request) is
  // open in the registry's storage (_uploads), and none is recorded any more. A session
  // Distribution made as it was killed, before its answer left, no client can know or
  // cancel: its POST is on record with no answer (status 0). Distribution's own upload
  // purging removes those.
  const known = (uuid: string) =>
    bed.registry.requests.some((r) => r.path.includes(uuid) || r.location?.includes(uuid));
  const diedUnanswered = bed.registry.requests.some(
    (r) => r.method === 'POST' && r.status === 0 && r.at >= killedAt - 5_000 && r.at <= killedAt,
  );
  const openKnown = () =>
    bed.registry.openUploads().filter((u) => !diedUnanswered || known(u.split('/').pop()!));
  await until('upload sessions to be cancelled', async () => openKnown().length === 0, 30_000).catch(
    (err: Error) => {
      const open = openKnown();
      const seen = bed.registry.requests
        .filter((r) => open.some((u) => r.path.includes(u.split('/').pop()!)))
        .map((r) => `${new Date(r.at).toISOString()} ${r.method} ${r.path.split('?')[0]} ${r.status}`);
      throw new Error(
        `${err.message}: ${open.join(', ')}\nrequests for them:\n${seen.join('\n')}\nkilled at ${new Date(killedAt).toISOString()}`,
      );
    },
  );
  for (const si of images) expect(si.metadata.annotations?.['serverimage.io/upload-session']).toBeUndefined();
  // Every completed blob went up once: per image its layer, its config and its VM
  // artifact's VM definition. The artifacts' empty config `{}` is one blob that all images
  // share: images finishing at once may each HEAD it before any has PUT it, so it is left out.
  const uploads = completedBlobUploads(bed.registry.requests.slice(before));
  uploads.delete(EMPTY_BLOB_DIGEST);
  expect([...uploads.values()].every((n) => n === 1)).toBe(true);
  expect(uploads.size).toBe(3 * vms.length);
  // No retry storm: each image's transfer meets the outage about once and winds down (36
  // requests for 6 images alone, 60 on a loaded machine). The shared backoff's schedule is
  // unit-tested (registry-backoff.test.ts); this bound only catches images that keep trying.
  expect(duringOutage).toBeLessThanOrEqual(20 * vms.length);
  await expectNothingLeftBehind(bed.client, ns, [bed.registry]);
  await recorder.stop();
  expectStatusByVirtController(recorder);
}, 300_000);
