// A second read of part of an export (the qcow2 data pass), against the real
// virt-exportserver behind the bed's fault proxy (Range as Go's http.ServeContent
// answers it): the bytes asked for, no more, and a dropped connection resumed from
// the last byte consumed.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataPathError } from '../../../src/export/errors.js';
import { readExportRange, type ExportSourceOptions } from '../../../src/export/source.js';
import { serveDiskFile, type DiskExport } from '../../bench/disk-export.js';

const disk = randomBytes(3 * 1024 * 1024 + 77);
let work: string;
let server: DiskExport;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'source-range-'));
  writeFileSync(path.join(work, 'disk.img'), disk);
  server = await serveDiskFile(path.join(work, 'disk.img'));
});
afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});
afterEach(() => server.setFaults({}));

const options = (extra: Partial<ExportSourceOptions> = {}): ExportSourceOptions => ({
  url: server.url,
  caPem: server.caPem,
  token: server.token,
  backoffMs: 10,
  ...extra,
});

async function read(opts: ExportSourceOptions, start: number, end: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of readExportRange(opts, { start, end, size: disk.length }))
    chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

test('reads exactly [start, end), from the middle, the start and up to the end', async () => {
  for (const [start, end] of [
    [65_536, 1_000_000],
    [0, 4096],
    [2 * 1024 * 1024, disk.length],
    [5, 6],
  ] as const) {
    expect((await read(options(), start, end)).equals(disk.subarray(start, end))).toBe(true);
  }
  expect(await read(options(), 100, 100)).toHaveLength(0);
});

test('a dropped connection resumes at the byte after the last one consumed', async () => {
  server.setFaults({ dropAfterBytes: 300_000 });
  const resumedAt: number[] = [];
  const bytes = await read(
    options({ onResume: ({ offset }) => resumedAt.push(offset) }),
    1_000_000,
    2_000_000,
  );
  expect(bytes.equals(disk.subarray(1_000_000, 2_000_000))).toBe(true);
  // The fault proxy cuts after 300 000 bytes on the wire (TLS records and HTTP headers
  // included), so each connection delivers a little less than that of the disk.
  expect(resumedAt).toHaveLength(3);
  resumedAt.forEach((offset, i) => {
    expect(offset).toBeGreaterThan(1_000_000 + i * 300_000 + 250_000);
    expect(offset).toBeLessThan(1_000_000 + (i + 1) * 300_000);
    if (i > 0) expect(offset).toBeGreaterThan(resumedAt[i - 1]!);
  });
});

test('an export that keeps failing gives up with a retryable ExportUnavailable', async () => {
  server.setFaults({ httpErrors: 100 });
  const error = await read(options({ retries: 1 }), 0, 1000).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(DataPathError);
  expect(error).toMatchObject({ reason: 'ExportUnavailable', retryable: true });
});
