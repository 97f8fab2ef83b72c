// Incremental backups end to end: a nightly schedule with format.layout chunked, stepped
// through seven nights on an injected clock, the VM's 64 MiB disk changed between nights
// (a few files rewritten and added, on the node's disk file). Each backup uploads only
// the chunks that changed and records the disk's sha256; rotation 3 deletes the four
// oldest, which breaks none of the kept ones; after Distribution's garbage collection the
// registry holds exactly the chunks a kept backup references; the seventh backup reads
// back byte-exact, and `serverimage restore` materializes it and CDI's real importer
// imports it into a PVC holding exactly the seventh night's bytes.
// On KubeVirt's real virt-controller (kubevirt/real/bed.ts) with the in-process operator.
import { execFileSync } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { openSync, readFileSync, writeSync, closeSync } from 'node:fs';
import { FakeClock } from '../unit/kube/fake-clock.js';
import { importWithCdi } from '../harness/cdi-importer.js';
import { importedDisk } from '../harness/images.js';
import { DATA_VOLUME } from '../harness/kubevirt/api.js';
import type { RegistryImporter } from '../harness/kubevirt/registry-import.js';
import { until } from '../harness/kubevirt/testing.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import { loadConfig } from '../../src/config.js';
import {
  startScheduleController,
  type RunningScheduleController,
} from '../../src/controllers/serverimageschedule/controller.js';
import { openChunkedDisk, verifyChunkedDisk } from '../../src/export/chunked/index.js';
import { silentLogger } from '../../src/kube/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { cli } from './cli-fixtures.js';
import { createVm, startServerImageBed, type ServerImageBed } from './serverimage-fixtures.js';
import { SCHEDULE, backupsOf, createSchedule, phaseOf } from './serverimageschedule-fixtures.js';

const MiB = 2 ** 20;
const DISK = 64 * MiB;
const NIGHTS = 7;
const ROTATION = 3;

/** The simulator's DataVolume controller importing with the real cdi-importer. */
const cdiImporter: RegistryImporter = async (job) => {
  const run = await importWithCdi({
    reference: job.reachableUrl,
    insecure: true,
    sizeBytes: job.sizeBytes,
    filesystemOverhead: 0,
  });
  try {
    if (!run.succeeded) throw new Error(`cdi-importer: ${run.message}`);
    await copyFile(run.diskFile, job.targetFile);
  } finally {
    run.cleanup();
  }
};

class SettableClock extends FakeClock {
  constructor(start: number) {
    super();
    this.advance(start - this.now());
  }
}

let bed: ServerImageBed;
let scheduling: RunningScheduleController | undefined;
let registry: RegistryClient | undefined;

beforeAll(async () => {
  bed = await startServerImageBed([], { registryImporter: cdiImporter });
}, 180_000);

afterAll(async () => {
  await registry?.close();
  await scheduling?.stop();
  await bed?.stop();
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * A day of change on the disk file: three "files" rewritten or added (64-512 KiB of
 * random bytes each, at offsets drawn from the first 60 MiB, so some land in regions
 * that were zeros). About 1-2% of the disk.
 */
function changeDisk(file: string): void {
  const fd = openSync(file, 'r+');
  try {
    for (let i = 0; i < 3; i++) {
      const length = (64 + Math.floor(Math.random() * 448)) * 1024;
      const offset = Math.floor(Math.random() * (60 * MiB - length));
      writeSync(fd, randomBytes(length), 0, length, offset);
    }
  } finally {
    closeSync(fd);
  }
}

interface Night {
  name: string;
  digest: string;
  diskSha256: string;
  chunks: Set<string>;
  stats: {
    newChunks: number;
    reusedChunks: number;
    zeroChunks: number;
    newBytes: number;
    reusedBytes: number;
    chunks: number;
  };
}

test(`a chunked schedule, ${NIGHTS} nights, rotation ${ROTATION}: increments, read-back, GC and restore byte-exact`, async () => {
  const ns = await createNamespace('sis-incremental');
  await createVm(bed.client, ns, 'web-01', {
    disks: [{ volume: 'rootdisk', size: DISK, seed: 'incremental' }],
  });
  const diskFile = bed.sim.diskFile(ns, 'web-01-rootdisk')!;
  await createSchedule(bed.client, ns, 'nightly', bed.registry, {
    schedule: '0 2 * * *',
    timeZone: 'UTC',
    serverRef: { name: 'web-01' },
    rotation: ROTATION,
    template: {
      registry: { repository: `${bed.registry.host}/backups/{vm}`, insecure: true },
      format: { compression: 'zstd', disk: 'raw', layout: 'chunked' },
    },
  });
  const clock = new SettableClock(Date.parse('2027-01-01T12:00:00Z'));
  scheduling = await startScheduleController({
    kubeConfig: kubeConfig(),
    config: loadConfig([`--watch-namespaces=${ns}`], {}),
    logger: silentLogger,
    clock,
  });
  registry = new RegistryClient({ repository: `${bed.registry.host}/backups/web-01`, insecure: true });

  const nights: Night[] = [];
  const started = performance.now();
  for (let night = 1; night <= NIGHTS; night++) {
    if (night > 1) changeDisk(diskFile);
    const expectedSha = `sha256:${sha256(readFileSync(diskFile))}`;
    const due = `2027-01-0${night + 1}T02:00:00Z`;
    // The schedule has seen this night as its next run before the clock reaches it.
    await until(
      `night ${night} due next`,
      async () => (await bed.client.get(SCHEDULE, ns, 'nightly'))?.status?.nextScheduleTime === due,
    );
    clock.advance(Date.parse(due) - clock.now());
    scheduling.controller.enqueue(`${ns}/nightly`);
    const name = `nightly-web-01-2027010${night + 1}-020000`;
    const si = await until(
      `night ${night}: ${name} Active`,
      async () => {
        const found = (await backupsOf(bed.client, ns, 'nightly')).find((b) => b.metadata.name === name);
        return found && phaseOf(found) === 'Active' ? found : undefined;
      },
      90_000,
    ).catch(async (err: Error) => {
      const all = await backupsOf(bed.client, ns, 'nightly');
      const schedule = await bed.client.get(SCHEDULE, ns, 'nightly');
      throw new Error(
        `${err.message}\nbackups: ${JSON.stringify(
          all.map((b) => ({ name: b.metadata.name, status: b.status })),
          null,
          1,
        )}` + `\nschedule status: ${JSON.stringify(schedule?.status, null, 1)}`,
      );
    });
    const image = si.status.images[0] as { digest: string; chunked: Night['stats'] & { diskSha256: string } };
    expect(image.chunked.diskSha256).toBe(expectedSha);
    const opened = await openChunkedDisk(registry, image.digest);
    expect(opened.config.diskSha256).toBe(expectedSha);
    nights.push({
      name,
      digest: image.digest,
      diskSha256: expectedSha,
      chunks: new Set(opened.chunks.map((c) => c.digest)),
      stats: image.chunked,
    });
    scheduling.controller.enqueue(`${ns}/nightly`);
  }
  const seconds = (performance.now() - started) / 1000;

  // Night 1 stores every non-zero chunk; every later night only what changed (at most
  // three chunks per changed region: each straddles at most two 4 MiB chunks).
  expect(nights[0]!.stats.reusedChunks).toBe(0);
  for (const n of nights.slice(1)) {
    expect(n.stats.newChunks).toBeGreaterThan(0);
    expect(n.stats.newChunks).toBeLessThanOrEqual(6);
    expect(n.stats.reusedChunks).toBeGreaterThan(0);
  }
  const first = nights[0]!.stats;
  const later = nights.slice(1).map((n) => n.stats);
  const laterNew = later.reduce((sum, s) => sum + s.newBytes, 0) / later.length;
  process.stderr.write(
    `\n[incremental] ${NIGHTS} nights in ${seconds.toFixed(1)} s; night 1: ${first.newChunks} chunks, ` +
      `${(first.newBytes / MiB).toFixed(2)} MiB uploaded (${first.zeroChunks} zero chunks of ${first.chunks}); ` +
      `nights 2-${NIGHTS}: new chunks ${later.map((s) => s.newChunks).join(' ')}, ` +
      `uploaded ${later.map((s) => (s.newBytes / MiB).toFixed(2)).join(' ')} MiB, ` +
      `reused ${later.map((s) => (s.reusedBytes / MiB).toFixed(2)).join(' ')} MiB; ` +
      `mean upload ${((100 * laterNew) / first.newBytes).toFixed(1)}% of night 1's\n`,
  );

  // Rotation keeps the newest three; the others' manifests are deleted from the registry.
  const kept = await until('rotation to three', async () => {
    const list = (await backupsOf(bed.client, ns, 'nightly')).filter((b) => !b.metadata.deletionTimestamp);
    return list.length === ROTATION ? list.map((b) => b.metadata.name) : undefined;
  });
  const keptNights = nights.slice(NIGHTS - ROTATION);
  expect(kept).toEqual(keptNights.map((n) => n.name));
  for (const gone of nights.slice(0, NIGHTS - ROTATION)) {
    await until(`${gone.name}'s manifest deleted`, async () =>
      registry!.getManifest(gone.digest).then(
        () => false,
        () => true,
      ),
    );
  }
  // No kept backup is broken by those deletions: every blob there, every byte as recorded.
  for (const n of keptNights)
    expect((await verifyChunkedDisk(registry, n.digest)).diskSha256).toBe(n.diskSha256);

  // Distribution's own GC: of all the chunks the seven nights referenced, exactly the kept ones stay.
  const everChunks = new Set(nights.flatMap((n) => [...n.chunks]));
  const keptChunks = new Set(keptNights.flatMap((n) => [...n.chunks]));
  expect(keptChunks.size).toBeLessThan(everChunks.size);
  await bed.registry.garbageCollect();
  const storedChunks = new Set(bed.registry.storedBlobs().filter((d) => everChunks.has(d)));
  expect(storedChunks).toEqual(keptChunks);
  const seventh = nights[NIGHTS - 1]!;
  expect((await verifyChunkedDisk(registry, seventh.digest)).diskSha256).toBe(seventh.diskSha256);

  // `serverimage materialize` alone: the sixth night as a containerDisk image, read by crane.
  const sixth = nights[NIGHTS - 2]!;
  const made = await cli(['materialize', sixth.name, '-n', ns, '--tag', 'night6-disk']);
  expect({ code: made.code, stdout: made.stdout }).toEqual({
    code: 0,
    stdout: `rootdisk: ${bed.registry.host}/backups/web-01:night6-disk (from ${bed.registry.host}/backups/web-01:${sixth.name})\n`,
  });
  const tar = await bed.crane.exportTar(`${bed.registry.host}/backups/web-01:night6-disk`);
  const diskImg = execFileSync('tar', ['-xOf', '-', 'disk/disk.img'], { input: tar, maxBuffer: 1 << 30 });
  expect(`sha256:${sha256(diskImg)}`).toBe(sixth.diskSha256);

  // Restore: the CLI materializes the chunked backup as a containerDisk image, then
  // CDI's real importer fills the new VM's PVC from it.
  const restore = await cli([
    'restore',
    seventh.name,
    '--name',
    'restored',
    '-n',
    ns,
    '--run-strategy',
    'Halted',
    '--materialize-tag',
    'night7-disk',
  ]);
  expect({ code: restore.code, stderr: restore.stderr }).toEqual({
    code: 0,
    stderr: expect.stringContaining('Materializing rootdisk') as string,
  });
  await until(
    'DataVolume restored-rootdisk Succeeded',
    async () => (await bed.client.get(DATA_VOLUME, ns, 'restored-rootdisk'))?.status?.phase === 'Succeeded',
    180_000,
  );
  const restored = await importedDisk(bed.sim.diskFile(ns, 'restored-rootdisk')!, DISK);
  expect(`sha256:${restored.sha256}`).toBe(seventh.diskSha256);
  expect(restored.zeroTail).toBe(true);
  // Hundreds of one-request chunk uploads, and none left open.
  expect(bed.registry.openUploads()).toEqual([]);
}, 900_000);
