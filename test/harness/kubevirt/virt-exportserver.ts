// The real virt-exportserver (KubeVirt's exporter Pod image, cmd/virt-exportserver) as a
// local process, with the environment and file layout that KubeVirt's export controller
// gives the Pod (pkg/storage/export/export/export.go, createExporterPodManifest):
//   CERT_FILE=/cert/tls.crt  KEY_FILE=/cert/tls.key  TOKEN_FILE=/token/token
//   DEADLINE=<RFC 3339>      VOLUME<i>_EXPORT_PATH + _EXPORT_RAW_URI + _EXPORT_RAW_GZIP_URI
// A file-system PVC is mounted at /export-volumes/<pvc> (a folder holding disk.img), a
// block PVC at /dev/export-volumes/<pvc> (the device itself). Here `dir` stands in for
// the Pod's root: those paths are symlinks to the simulator's disk files, so a disk that
// the simulator rewrites (by rename) is what the next request reads, as on a live PVC.
// The server listens on its own loopback port (LISTEN_ADDR; the Pod listens on :8443).
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { KeyPair } from '../tls.js';
import { freePort } from '../ports.js';
import { startProcess, type ManagedProcess } from '../process.js';
import { toolPath } from '../tools.js';

export interface ExportVolume {
  /** The PVC's name: the URL is /volumes/<pvcName>/disk.img(.gz), as KubeVirt makes it. */
  pvcName: string;
  /** The file holding the PVC's bytes. */
  file: string;
  /** volumeMode Block: the file is the device, not a folder with disk.img in it. */
  block?: boolean;
}

export interface VirtExportServerOptions {
  /** Stands in for the exporter Pod's file system; removed by stop(). */
  dir: string;
  /** POD_NAME: names the server in its log lines. */
  podName: string;
  volumes: ExportVolume[];
  /** The serving certificate and key (the Pod's cert Secret). */
  keyPair: KeyPair;
  /** The CA that signed keyPair, for the readiness probe. */
  caPem: string;
  token: string;
  /** The server shuts down at this time (KubeVirt: the export's TTL, or cert rotation if sooner). */
  deadline?: Date;
}

export interface VirtExportServer {
  port: number;
  pid: number;
  /** The log of the process (klog JSON lines). */
  logFile: string;
  /** Rewrites the token file, as the kubelet refreshes a mounted Secret; the server reads it per request. */
  setToken(token: string): void;
  /** True once the process is gone (stopped, crashed or past its deadline). */
  exited(): boolean;
  tail(lines?: number): string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;

export const rawUri = (pvcName: string) => `/volumes/${pvcName}/disk.img`;
export const gzipUri = (pvcName: string) => `/volumes/${pvcName}/disk.img.gz`;

/** The exporter container's environment, as addVolumeEnvironmentVariables and the Pod manifest set it. */
export function exporterEnv(options: {
  root: string;
  volumes: ExportVolume[];
  deadline?: Date;
  port: number;
  podName: string;
}): Record<string, string> {
  const env: Record<string, string> = {
    POD_NAME: options.podName,
    CERT_FILE: path.join(options.root, 'cert/tls.crt'),
    KEY_FILE: path.join(options.root, 'cert/tls.key'),
    TOKEN_FILE: path.join(options.root, 'token/token'),
    LISTEN_ADDR: `127.0.0.1:${options.port}`,
  };
  // Go's time.RFC3339 has no fraction of a second.
  if (options.deadline) env.DEADLINE = options.deadline.toISOString().replace(/\.\d{3}Z$/, 'Z');
  options.volumes.forEach((v, i) => {
    env[`VOLUME${i}_EXPORT_PATH`] = mountPoint(options.root, v);
    env[`VOLUME${i}_EXPORT_RAW_URI`] = rawUri(v.pvcName);
    env[`VOLUME${i}_EXPORT_RAW_GZIP_URI`] = gzipUri(v.pvcName);
  });
  return env;
}

function mountPoint(root: string, v: ExportVolume): string {
  return v.block
    ? path.join(root, 'dev/export-volumes', v.pvcName)
    : path.join(root, 'export-volumes', v.pvcName);
}

/** The Pod's mounts: cert and token Secrets, and each volume as a symlink to its disk file. */
function layOut(options: VirtExportServerOptions): void {
  const root = options.dir;
  mkdirSync(path.join(root, 'cert'), { recursive: true });
  mkdirSync(path.join(root, 'token'), { recursive: true });
  writeFileSync(path.join(root, 'cert/tls.crt'), options.keyPair.certPem);
  writeFileSync(path.join(root, 'cert/tls.key'), options.keyPair.keyPem, { mode: 0o600 });
  writeToken(root, options.token);
  for (const v of options.volumes) {
    const at = mountPoint(root, v);
    if (v.block) {
      mkdirSync(path.dirname(at), { recursive: true });
      symlinkSync(v.file, at);
    } else {
      mkdirSync(at, { recursive: true });
      symlinkSync(v.file, path.join(at, 'disk.img'));
    }
  }
}

/** The token byte for byte: the server compares the whole file, so no trailing newline. */
function writeToken(root: string, token: string): void {
  const file = path.join(root, 'token/token');
  // Replaced by rename, as the kubelet updates a mounted Secret: no request reads half a token.
  writeFileSync(`${file}.tmp`, token, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** GET /exportready, the exporter Pod's readiness probe (no token needed). */
function probe(port: number, caPem: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/exportready', ca: caPem, agent: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** Starts the server and resolves once its readiness probe answers (a taken port is retried once). */
export async function startVirtExportServer(options: VirtExportServerOptions): Promise<VirtExportServer> {
  rmSync(options.dir, { recursive: true, force: true });
  layOut(options);
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    const port = await freePort();
    const env = exporterEnv({ root: options.dir, port, ...options });
    const proc = startProcess(toolPath('virt-exportserver'), [], path.join(options.dir, 'server.log'), env);
    try {
      await untilReady(proc, port, options.caPem);
      return handle(proc, port, options);
    } catch (err) {
      lastError = err as Error;
      await proc.stop();
    }
  }
  rmSync(options.dir, { recursive: true, force: true });
  throw lastError;
}

/** Polls the readiness probe; fails at once when the process exits (e.g. its port was taken). */
async function untilReady(proc: ManagedProcess, port: number, caPem: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(`virt-exportserver exited at start-up\n${proc.tail()}`);
    if (await probe(port, caPem)) return;
    if (Date.now() > deadline)
      throw new Error(`virt-exportserver not ready after ${READY_TIMEOUT_MS} ms\n${proc.tail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function handle(proc: ManagedProcess, port: number, options: VirtExportServerOptions): VirtExportServer {
  return {
    port,
    pid: proc.child.pid!,
    logFile: proc.logFile,
    setToken: (token) => writeToken(options.dir, token),
    exited: () => proc.child.exitCode !== null || proc.child.signalCode !== null,
    tail: (lines) => proc.tail(lines),
    async stop() {
      await proc.stop();
      rmSync(options.dir, { recursive: true, force: true });
    },
  };
}
