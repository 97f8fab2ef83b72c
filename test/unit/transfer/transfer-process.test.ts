// The transfer process's own failures, before any byte moves: a request or a mount that is
// not usable ends in words (TransferRequestInvalid, exit 64), never a stack trace; the
// mounted registry Secret is read as the operator reads the Secret itself.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../../src/logger.js';
import { readMountedSecrets } from '../../../src/transfer/mounted-secrets.js';
import { encodeRequest, REQUEST_ENV, type MOUNTS } from '../../../src/transfer/request.js';
import { EXIT, exitCodeOf } from '../../../src/transfer/result.js';
import { transferProcess } from '../../../src/transfer/transfer.js';

let dir: string;
let mounts: typeof MOUNTS;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-transfer-unit-'));
  mounts = {
    exportToken: path.join(dir, 'export-token'),
    registryCredentials: path.join(dir, 'registry-credentials'),
    registryCa: path.join(dir, 'registry-ca'),
  } as typeof MOUNTS;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const put = (folder: string, file: string, content: string) => {
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, file), content);
};

const request = encodeRequest({
  version: 1,
  repository: 'registry.example.com:5000/vm',
  exportCaPem: 'PEM',
  volumes: [{ volume: 'rootdisk', tag: 't', url: 'https://virt-export-x.ns.svc/volumes/rootdisk/disk.img' }],
  format: { compression: 'gzip', disk: 'raw', layout: 'containerDisk' },
  imageName: 'x',
  sourceVm: { namespace: 'ns', name: 'vm', uid: 'u' },
  created: '2026-12-05T10:00:00Z',
});

const run = (env: NodeJS.ProcessEnv) =>
  transferProcess({ env, signal: new AbortController().signal, log: silentLogger, mounts, progressPort: 0 });

test('no request, or a bad one: TransferRequestInvalid in words, exit 64', async () => {
  const none = await run({});
  expect(none).toMatchObject({
    succeeded: false,
    volumes: [],
    error: { reason: 'TransferRequestInvalid', retryable: false },
  });
  expect(none.error!.message).toBe(`${REQUEST_ENV} is not set: this program runs in a transfer Pod`);
  expect(exitCodeOf(none, false)).toBe(EXIT.badRequest);

  const bad = await run({ [REQUEST_ENV]: '{"version":1,"volumes":[]}' });
  expect(bad.error!.message).toMatch(/^SERVERIMAGE_TRANSFER_REQUEST is not a transfer request: .*volumes/);
  expect(bad.error!.message).not.toMatch(/\n\s+at /);
});

test('the export token missing from its mount: named, exit 64', async () => {
  const result = await run({ [REQUEST_ENV]: request });
  expect(result.error).toEqual({
    reason: 'TransferRequestInvalid',
    message: `no export token in ${mounts.exportToken}/token (the export token Secret's volume)`,
    retryable: false,
  });
});

test('a credentials Secret without an entry for the registry: the parser’s words, not retried', async () => {
  put(mounts.exportToken, 'token', 'tok\n');
  put(
    mounts.registryCredentials,
    '.dockerconfigjson',
    JSON.stringify({ auths: { 'other.example.com': { auth: 'eDp5' } } }),
  );
  const result = await run({ [REQUEST_ENV]: request });
  expect(result.error).toEqual({
    reason: 'InvalidCredentialsSecret',
    message: `Secret mounted at ${mounts.registryCredentials}: .dockerconfigjson has no usable credentials for registry.example.com:5000 (it has entries for: other.example.com)`,
    retryable: false,
  });
  expect(exitCodeOf(result, false)).toBe(EXIT.permanent);
});

test('the mounts read as the Secrets they are: dockerconfigjson, basic-auth, CA bundle', () => {
  put(mounts.exportToken, 'token', 'tok\n');
  expect(readMountedSecrets('registry.example.com', mounts)).toEqual({
    exportToken: 'tok',
    credentials: undefined,
    registryCaPem: undefined,
  });
  put(mounts.registryCredentials, 'username', 'robot');
  put(mounts.registryCredentials, 'password', 's3cret');
  put(mounts.registryCa, 'ca.crt', 'CA PEM');
  expect(readMountedSecrets('registry.example.com', mounts)).toEqual({
    exportToken: 'tok',
    credentials: { username: 'robot', password: 's3cret' },
    registryCaPem: 'CA PEM',
  });
  put(
    mounts.registryCredentials,
    '.dockerconfigjson',
    JSON.stringify({ auths: { 'https://registry.example.com/v1/': { username: 'u', password: 'p' } } }),
  );
  expect(readMountedSecrets('registry.example.com', mounts).credentials).toEqual({
    username: 'u',
    password: 'p',
  });
});
