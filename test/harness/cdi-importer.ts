// The real CDI importer (cmd/cdi-importer, what a DataVolume with a `registry` source
// runs in its importer Pod) as an independent reader of what we push: it pulls the
// image, finds the disk in it, converts it with qemu-img into /data/disk.img and writes
// its termination message, all with CDI's own code.
//
//   const run = await importWithCdi({ reference: `${registry.host}/vms/web@sha256:...`,
//                                     insecure: true, sizeBytes: 64 * MiB });
//   run.succeeded, run.message ('{"message":"Import Complete",...}'), run.diskFile
//   run.cleanup()
//
// It runs in its own mount and network namespaces (cdi-importer-netns.sh says why and
// how); the registry must listen on loopback or another IPv4 address of the host (the real
// node's link), where the reference's host:port points.
// The environment is the importer Pod's (CDI's makeImportEnv) for a registry source.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toolPath } from './tools.js';

export interface CdiImportOptions {
  /** HOST:PORT/repository@sha256:... (or :tag); HOST is localhost or an IPv4 address of this host. */
  reference: string;
  /** The registry's CA (IMPORTER_CERT_DIR), or `insecure` for plain HTTP / no verification (INSECURE_TLS). */
  caPem?: string;
  insecure?: boolean;
  /** The PVC's size (IMPORTER_IMAGE_SIZE); the disk must fit in it minus the overhead. */
  sizeBytes: number;
  /** FILESYSTEM_OVERHEAD; CDI's default is 0.055. */
  filesystemOverhead?: number;
  /** Registry credentials (IMPORTER_ACCESS_KEY_ID / IMPORTER_SECRET_KEY, from the DataVolume's secretRef). */
  credentials?: { username: string; password: string };
  /** Give up after this long (default 5 minutes). */
  timeoutMs?: number;
}

export interface CdiImportResult {
  /** The importer exited 0 with "Import Complete". */
  succeeded: boolean;
  exitCode: number;
  /** /dev/termination-log: JSON on success, "Unable to process data: ..." on failure. */
  message: string;
  /** The /data/disk.img it wrote (exists only on success). */
  diskFile: string;
  /** The importer's log (klog). */
  log: string;
  /** Removes the run's folder, disk included. */
  cleanup(): void;
}

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cdi-importer-netns.sh');

function registryAddress(reference: string): { host: string; port: number } {
  const hostPort = reference.replace(/^docker:\/\//, '').split('/')[0]!;
  const m = /^(localhost|\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(hostPort);
  if (!m)
    throw new Error(
      `cdi-importer here reaches registries at an IPv4 address of this host only, not ${hostPort}`,
    );
  return { host: m[1] === 'localhost' ? '127.0.0.1' : m[1]!, port: Number(m[2]) };
}

/** The host side of the registry bridge: a Unix socket forwarding to the registry's TCP port. */
async function startBridge(socketPath: string, target: { host: string; port: number }) {
  const open = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const u = net.connect(target.port, target.host);
    for (const s of [c, u]) {
      open.add(s);
      s.once('close', () => open.delete(s));
    }
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return () =>
    new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    });
}

/** The importer Pod's environment for a registry DataVolume. */
function importerEnv(options: CdiImportOptions, toolsBin: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${toolsBin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    IMPORTER_SOURCE: 'registry',
    IMPORTER_ENDPOINT: `docker://${options.reference.replace(/^docker:\/\//, '')}`,
    IMPORTER_CONTENTTYPE: 'kubevirt',
    IMPORTER_IMAGE_SIZE: String(options.sizeBytes),
    OWNER_UID: 'serverimage-test-bed',
    FILESYSTEM_OVERHEAD: String(options.filesystemOverhead ?? 0.055),
    INSECURE_TLS: String(Boolean(options.insecure)),
    PREALLOCATION: 'false',
  };
  if (options.caPem) env.IMPORTER_CERT_DIR = '/certs';
  if (options.credentials) {
    env.IMPORTER_ACCESS_KEY_ID = options.credentials.username;
    env.IMPORTER_SECRET_KEY = options.credentials.password;
  }
  return env;
}

export async function importWithCdi(options: CdiImportOptions): Promise<CdiImportResult> {
  const importer = toolPath('cdi-importer');
  toolPath('qemu-img'); // built (and its libraries unpacked) before the run needs it
  const toolsBin = path.dirname(importer);
  const toolsCache = path.dirname(toolsBin);
  const work = mkdtempSync(path.join(os.tmpdir(), 'cdi-import-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  for (const d of ['data', 'scratch', 'tmp', 'certs']) mkdirSync(path.join(work, d));
  writeFileSync(path.join(work, 'termination-log'), '');
  if (options.caPem) writeFileSync(path.join(work, 'certs', 'ca.crt'), options.caPem);

  const target = registryAddress(options.reference);
  const stopBridge = await startBridge(path.join(work, 'registry.sock'), target);
  const logFile = path.join(work, 'importer.log');
  try {
    const exitCode = await new Promise<number>((resolve, reject) => {
      const child = spawn(
        'unshare',
        // A pid namespace too: when the run ends or is killed, nothing of it lives on.
        [
          '--mount',
          '--net',
          '--pid',
          '--fork',
          '--kill-child',
          'bash',
          script,
          work,
          toolsCache,
          importer,
          String(target.port),
          target.host,
        ],
        {
          env: { ...importerEnv(options, toolsBin), BRIDGE_NODE: process.execPath },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const log: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => log.push(c));
      child.stderr.on('data', (c: Buffer) => log.push(c));
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        writeFileSync(logFile, Buffer.concat(log));
        resolve(code ?? (signal ? 128 : 1));
      });
    });
    const message = readFileSync(path.join(work, 'termination-log'), 'utf8');
    return {
      succeeded: exitCode === 0 && message.includes('Import Complete'),
      exitCode,
      message,
      diskFile: path.join(work, 'data', 'disk.img'),
      log: readFileSync(logFile, 'utf8'),
      cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  } finally {
    await stopBridge();
  }
}
