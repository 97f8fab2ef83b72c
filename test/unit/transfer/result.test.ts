// The transfer's result as a termination message: JSON within Kubernetes' 4096 bytes,
// giving up detail (never validity) when a VM has many volumes; and its exit codes.
import {
  decodeResult,
  encodeResult,
  EXIT,
  exitCodeOf,
  TERMINATION_MESSAGE_LIMIT,
  type PushedVolume,
  type TransferResult,
} from '../../../src/transfer/result.js';
import { decodeRequest, encodeRequest, REQUEST_ENV } from '../../../src/transfer/request.js';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function volume(i: number): PushedVolume {
  return {
    volume: `datadisk-${i}`,
    digest: digest(i),
    tag: `web-01-nightly-datadisk-${i}`,
    size: 10 * 2 ** 30,
    diskFormat: 'raw',
    fileSize: 10 * 2 ** 30,
    layerDigest: digest(1000 + i),
    layerSize: 1_234_567_890,
    diffId: digest(2000 + i),
    diskSha256: digest(3000 + i),
    seconds: 123.456,
  };
}

const ok = (n: number): TransferResult => ({
  version: 1,
  succeeded: true,
  volumes: Array.from({ length: n }, (_, i) => volume(i)),
});

test('a result that fits is written whole and reads back equal', () => {
  const text = encodeResult(ok(2));
  expect(decodeResult(text)).toEqual(ok(2));
  expect(exitCodeOf(ok(2), false)).toBe(EXIT.ok);
});

test('many volumes: details go first, then the last volumes, counted; always valid and within 4096 bytes', () => {
  const twelve = decodeResult(encodeResult(ok(12)))!;
  expect(Buffer.byteLength(JSON.stringify(ok(12)))).toBeGreaterThan(TERMINATION_MESSAGE_LIMIT);
  expect(Buffer.byteLength(encodeResult(ok(12)))).toBeLessThanOrEqual(TERMINATION_MESSAGE_LIMIT);
  expect(twelve.volumes).toHaveLength(12);
  // What status.images needs stays.
  expect(twelve.volumes[11]).toEqual({
    volume: 'datadisk-11',
    digest: digest(11),
    size: 10 * 2 ** 30,
    diskFormat: 'raw',
    layerSize: 1_234_567_890,
  });
  expect(twelve.omitted).toBeUndefined();

  const text = encodeResult(ok(60));
  expect(Buffer.byteLength(text)).toBeLessThanOrEqual(TERMINATION_MESSAGE_LIMIT);
  const many = decodeResult(text)!;
  expect(many.succeeded).toBe(true);
  expect(many.volumes.length).toBeGreaterThan(10);
  expect(many.volumes.length + many.omitted!).toBe(60);
  expect(many.volumes.map((v) => v.volume)).toEqual(
    Array.from({ length: many.volumes.length }, (_, i) => `datadisk-${i}`),
  );
});

test('a failure keeps its words (cut when long), its completed layer and its open session', () => {
  const failed: TransferResult = {
    version: 1,
    succeeded: false,
    volumes: [volume(0)],
    layer: {
      volume: 'datadisk-1',
      digest: digest(9),
      size: 5,
      diffId: digest(10),
      diskSize: 7,
      diskFormat: 'raw',
      fileSize: 7,
    },
    uploadSession: 'https://registry.example.com/v2/vm/blobs/uploads/abc',
    error: {
      reason: 'RegistryUnavailable',
      message: `registry answered 503 ${'x'.repeat(5000)}`,
      retryable: true,
    },
  };
  const back = decodeResult(encodeResult(failed))!;
  expect(back.error!.reason).toBe('RegistryUnavailable');
  expect(back.error!.message.length).toBeLessThanOrEqual(1024);
  expect(back.error!.message).toMatch(/^registry answered 503 x+…$/);
  expect(back.layer).toEqual(failed.layer);
  expect(back.uploadSession).toBe(failed.uploadSession);
  expect(exitCodeOf(back, false)).toBe(EXIT.retryable);
  expect(exitCodeOf({ ...back, error: { ...back.error!, retryable: false } }, false)).toBe(EXIT.permanent);
  expect(exitCodeOf(back, true)).toBe(EXIT.terminated);
  expect(
    exitCodeOf(
      { ...back, error: { reason: 'TransferRequestInvalid', message: 'x', retryable: false } },
      false,
    ),
  ).toBe(EXIT.badRequest);
});

test('a termination message that is not ours reads as undefined', () => {
  expect(decodeResult(undefined)).toBeUndefined();
  expect(decodeResult('')).toBeUndefined();
  expect(decodeResult('panic: out of memory')).toBeUndefined();
  expect(decodeResult('{"version":2}')).toBeUndefined();
});

test('a request round-trips; a bad one is refused naming its fields', () => {
  const request = {
    version: 1 as const,
    repository: 'registry.example.com/vm',
    exportCaPem: 'PEM',
    volumes: [
      { volume: 'rootdisk', tag: 'x', url: 'https://virt-export-x.ns.svc/volumes/rootdisk/disk.img' },
    ],
    format: { compression: 'gzip' as const, disk: 'raw' as const, layout: 'containerDisk' as const },
    imageName: 'x',
    sourceVm: { namespace: 'ns', name: 'vm', uid: 'u' },
    created: '2026-12-05T10:00:00Z',
  };
  expect(decodeRequest(encodeRequest(request))).toEqual({
    ...request,
    insecure: false,
    progressIntervalMs: 1000,
  });
  expect(() => decodeRequest(undefined)).toThrow(`${REQUEST_ENV} is not set`);
  expect(() => decodeRequest('{')).toThrow('is not valid JSON');
  expect(() =>
    decodeRequest(JSON.stringify({ ...request, volumes: [{ volume: 'a', tag: 't', url: 'nope' }] })),
  ).toThrow(/volumes\.0\.url/);
});
