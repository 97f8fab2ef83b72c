// The real crane (go-containerregistry), an independent client that checks what we push.
// Each Crane has its own DOCKER_CONFIG (logged in with `crane auth login` when the
// registry wants credentials), trusts the registry's test CA through SSL_CERT_FILE, and
// passes --insecure only for plain HTTP.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toolPath } from './tools.js';

export interface CraneTarget {
  host: string;
  tls: boolean;
  username?: string;
  password?: string;
  caPem?: string;
}

export interface CraneResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface Crane {
  /** Runs crane with the given arguments; never throws on a non-zero exit. */
  run(args: string[], input?: string | Buffer): Promise<CraneResult>;
  /** Runs crane and returns stdout as text; throws with stderr on failure. */
  ok(args: string[], input?: string | Buffer): Promise<string>;
  /** `crane auth login` with these credentials (replaces the ones given at creation). */
  login(username: string, password: string): Promise<CraneResult>;
  manifest(ref: string): Promise<Record<string, unknown>>;
  config(ref: string): Promise<Record<string, unknown>>;
  digest(ref: string): Promise<string>;
  /** The bytes of a blob; `repoRef` is host/repo (a tag or digest is not needed). */
  blob(repoRef: string, digest: string): Promise<Buffer>;
  /** sha256 and size of a blob, streamed (for big blobs). */
  blobSha256(repoRef: string, digest: string): Promise<{ digest: string; size: number }>;
  /** The flattened filesystem of an image as a tar (`crane export`). */
  exportTar(ref: string): Promise<Buffer>;
  /** Pushes a new single-layer image made from a tar file (`crane append` on scratch). */
  appendLayer(tarFile: string, ref: string): Promise<string>;
  cleanup(): void;
}

const MAX_BUFFER = 1024 * 1024 * 1024;

export async function craneFor(target: CraneTarget): Promise<Crane> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-crane-'));
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: dir, HOME: dir };
  if (target.caPem) {
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, target.caPem);
    env.SSL_CERT_FILE = caFile;
  }
  const globalFlags = target.tls ? [] : ['--insecure'];

  const run = (args: string[], input?: string | Buffer): Promise<CraneResult> =>
    new Promise((resolve) => {
      const child = execFile(
        toolPath('crane'),
        [...args, ...globalFlags],
        { env, encoding: 'buffer', maxBuffer: MAX_BUFFER },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code, stdout, stderr: stderr.toString('utf8') });
        },
      );
      child.stdin?.end(input ?? '');
    });

  const ok = async (args: string[], input?: string | Buffer): Promise<string> => {
    const result = await run(args, input);
    if (result.code !== 0)
      throw new Error(`crane ${args[0]} failed (${result.code}): ${result.stderr.trim()}`);
    return result.stdout.toString('utf8');
  };

  const login = (username: string, password: string) =>
    run(['auth', 'login', target.host, '-u', username, '--password-stdin'], password);

  if (target.username !== undefined && target.password !== undefined) {
    const result = await login(target.username, target.password);
    if (result.code !== 0) throw new Error(`crane auth login failed: ${result.stderr}`);
  }

  return {
    run,
    ok,
    login,
    manifest: async (ref) => JSON.parse(await ok(['manifest', ref])) as Record<string, unknown>,
    config: async (ref) => JSON.parse(await ok(['config', ref])) as Record<string, unknown>,
    digest: async (ref) => (await ok(['digest', ref])).trim(),
    blob: async (repoRef, digest) => {
      const result = await run(['blob', `${repoRef}@${digest}`]);
      if (result.code !== 0) throw new Error(`crane blob failed: ${result.stderr.trim()}`);
      return result.stdout;
    },
    blobSha256: (repoRef, digest) =>
      new Promise((resolve, reject) => {
        const child = spawn(toolPath('crane'), ['blob', `${repoRef}@${digest}`, ...globalFlags], { env });
        const hash = createHash('sha256');
        let size = 0;
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          size += chunk.length;
        });
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
        child.on('error', reject);
        child.on('close', (code) => {
          if (code !== 0) reject(new Error(`crane blob failed (${code}): ${stderr.trim()}`));
          else resolve({ digest: `sha256:${hash.digest('hex')}`, size });
        });
      }),
    exportTar: async (ref) => {
      const result = await run(['export', ref, '-']);
      if (result.code !== 0) throw new Error(`crane export failed: ${result.stderr.trim()}`);
      return result.stdout;
    },
    appendLayer: async (tarFile, ref) => (await ok(['append', '-f', tarFile, '-t', ref])).trim(),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
