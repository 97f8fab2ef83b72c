// The export source against a small HTTPS server that behaves like KubeVirt's
// raw endpoint (Content-Length, Range, token header) and can misbehave.
import { createHash, randomBytes } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { DataPathError } from '../../../src/export/errors.js';
import { openExportSource, type ExportSourceOptions } from '../../../src/export/source.js';
import { createCertificateAuthority } from '../../harness/tls.js';

const TOKEN = 'secret-token';
const disk = randomBytes(2 * 1024 * 1024 + 123);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Faults {
  /** Answer 503 to this many requests first. */
  unavailable: number;
  /** Drop each of this many connections after `dropAfter` body bytes. */
  drops: number;
  dropAfter: number;
  /** Ignore Range (answer 200 with everything). */
  ignoreRange: boolean;
  omitLength: boolean;
  /** Send this many body bytes, then nothing more (the connection stays open). */
  stallAfter?: number;
}

const ca = createCertificateAuthority();
const serverCert = ca.issue({ commonName: 'export', ipAddresses: ['127.0.0.1'], usage: 'server' });
let server: https.Server;
let url: string;
let faults: Faults;
const ranges: (string | undefined)[] = [];

beforeAll(async () => {
  server = https.createServer({ cert: serverCert.certPem, key: serverCert.keyPem }, (req, res) => {
    ranges.push(req.headers.range);
    if (req.headers['x-kubevirt-export-token'] !== TOKEN) return void res.writeHead(401).end();
    if (faults.unavailable > 0) {
      faults.unavailable--;
      return void res.writeHead(503).end();
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range && !faults.ignoreRange ? Number(range[1]) : 0;
    const body = disk.subarray(start);
    const headers: Record<string, string | number> = faults.omitLength
      ? {}
      : { 'content-length': body.length };
    if (start > 0) headers['content-range'] = `bytes ${start}-${disk.length - 1}/${disk.length}`;
    res.writeHead(start > 0 ? 206 : 200, headers);
    if (faults.stallAfter !== undefined) {
      res.write(body.subarray(0, faults.stallAfter));
      return;
    }
    if (faults.drops > 0) {
      faults.drops--;
      res.write(body.subarray(0, faults.dropAfter), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/volumes/disk/disk.img`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => {
  faults = { unavailable: 0, drops: 0, dropAfter: 0, ignoreRange: false, omitLength: false };
  ranges.length = 0;
});

function options(extra: Partial<ExportSourceOptions> = {}): ExportSourceOptions {
  return { url, caPem: ca.certPem, token: TOKEN, backoffMs: 10, ...extra };
}

async function readAll(opts: ExportSourceOptions): Promise<{ size: number; bytes: Buffer }> {
  const source = await openExportSource(opts);
  const chunks: Buffer[] = [];
  // Copies: the source reuses its buffers once the next chunk is asked for.
  for await (const chunk of source.body) chunks.push(Buffer.from(chunk));
  return { size: source.size, bytes: Buffer.concat(chunks) };
}

async function failureOf(promise: Promise<unknown>): Promise<DataPathError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DataPathError) return err;
    throw err;
  }
  throw new Error('expected a DataPathError');
}

describe('openExportSource', () => {
  it('streams the disk with its size from Content-Length', async () => {
    const { size, bytes } = await readAll(options());
    expect(size).toBe(disk.length);
    expect(sha(bytes)).toBe(sha(disk));
    expect(ranges).toEqual([undefined]);
  });

  it('reads into a few reused buffers and pauses for a slow reader, without mixing up bytes', async () => {
    const source = await openExportSource(options());
    const hash = createHash('sha256');
    const buffers = new Set<ArrayBufferLike>();
    let chunks = 0;
    for await (const chunk of source.body) {
      hash.update(chunk);
      buffers.add(chunk.buffer);
      // A reader slower than the network: the socket has to pause.
      if (++chunks % 8 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(hash.digest('hex')).toBe(sha(disk));
    expect(chunks).toBeGreaterThan(4);
    expect(buffers.size).toBeLessThanOrEqual(8);
  });

  it('resumes a dropped connection with Range from the last byte consumed', async () => {
    faults.drops = 3;
    faults.dropAfter = 300_000;
    const resumes: number[] = [];
    const { bytes } = await readAll(options({ onResume: ({ offset }) => resumes.push(offset) }));
    expect(sha(bytes)).toBe(sha(disk));
    expect(resumes).toEqual([300_000, 600_000, 900_000]);
    expect(ranges).toEqual([undefined, 'bytes=300000-', 'bytes=600000-', 'bytes=900000-']);
  });

  it('an abort ends a resume backoff at once, with the abort reason (the exporter died, then SIGTERM came)', async () => {
    faults.drops = 100;
    faults.dropAfter = 1000;
    const stop = new AbortController();
    const stopped = new Error('the transfer Pod was stopped (SIGTERM)');
    const reading = readAll(
      options({
        backoffMs: 60_000,
        onResume: () => setTimeout(() => stop.abort(stopped), 10),
        signal: stop.signal,
      }),
    );
    const started = Date.now();
    await expect(reading).rejects.toBe(stopped);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('an abort ends the retries of the first request at once', async () => {
    faults.unavailable = 100;
    const stop = new AbortController();
    const stopped = new Error('stopped');
    setTimeout(() => stop.abort(stopped), 100);
    const started = Date.now();
    await expect(readAll(options({ backoffMs: 60_000, signal: stop.signal }))).rejects.toBe(stopped);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('retries 5xx answers, then succeeds', async () => {
    faults.unavailable = 2;
    const { bytes } = await readAll(options());
    expect(sha(bytes)).toBe(sha(disk));
  });

  it('gives up on a server that keeps answering 5xx: ExportUnavailable, retryable', async () => {
    faults.unavailable = 100;
    const error = await failureOf(readAll(options({ retries: 2 })));
    expect(error).toMatchObject({ reason: 'ExportUnavailable', retryable: true });
    expect(ranges).toHaveLength(3);
  });

  it('gives up on a connection that keeps dropping without progress: ExportTruncated', async () => {
    faults.drops = 100;
    faults.dropAfter = 0;
    const error = await failureOf(readAll(options({ retries: 2 })));
    expect(error).toMatchObject({ reason: 'ExportTruncated', retryable: true });
  });

  it('refuses a server that ignores Range on resume rather than duplicating bytes', async () => {
    faults.drops = 1;
    faults.dropAfter = 1000;
    faults.ignoreRange = true;
    const error = await failureOf(readAll(options()));
    expect(error.reason).toBe('ExportInvalid');
  });

  it('reports a wrong token as ExportUnauthorized, without retrying', async () => {
    const error = await failureOf(readAll(options({ token: 'wrong' })));
    expect(error).toMatchObject({ reason: 'ExportUnauthorized', retryable: false });
    expect(ranges).toHaveLength(1);
  });

  it('refuses a server certificate that the CA bundle does not vouch for', async () => {
    const error = await failureOf(
      readAll(options({ caPem: createCertificateAuthority('other').certPem, retries: 0 })),
    );
    expect(error.reason).toBe('ExportUnavailable');
    expect(error.message).toMatch(/certificate/);
  });

  it('treats a server that stops sending as a dropped connection (idle timeout)', async () => {
    faults.stallAfter = 100_000;
    const error = await failureOf(readAll(options({ idleTimeoutMs: 300, retries: 0 })));
    expect(error).toMatchObject({ reason: 'ExportTruncated', retryable: true });
    expect(error.message).toMatch(/delivered 100000 of .*no data from the export server/);
  });

  it('needs a Content-Length (the raw format)', async () => {
    faults.omitLength = true;
    const error = await failureOf(readAll(options()));
    expect(error).toMatchObject({ reason: 'ExportInvalid', retryable: false });
  });
});
