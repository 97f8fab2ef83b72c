// The real CNCF Distribution registry for tests: one process per call, on a free
// loopback port, with its own temp storage and deletes enabled. Variants: anonymous,
// htpasswd basic auth, bearer tokens from the harness token server, TLS from a test CA.
//
// By default a fault proxy (fault-proxy.ts) stands in front of it: `host`/`url` point at
// the proxy, which logs requests and can answer 503 or drop connections on demand.
// `directHost`/`directUrl` reach Distribution itself.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from './fault-proxy.js';
import { freePort } from './ports.js';
import { startProcess, waitFor } from './process.js';
import { createCertificateAuthority } from './tls.js';
import { startTokenServer, type TokenServer } from './token-server.js';
import { toolPath } from './tools.js';

export type RegistryAuth = 'none' | 'basic' | 'token';

export interface RegistryOptions {
  /** Default 'none' (anonymous push and pull). */
  auth?: RegistryAuth;
  /** Serve HTTPS with a certificate from a fresh test CA (returned as caPem). */
  tls?: boolean;
  /** Put the fault proxy in front (default true). */
  proxy?: boolean;
  /** Default true; false makes manifest/blob deletes answer 405. */
  deleteEnabled?: boolean;
  /** Distribution's http.relativeurls: Location headers without scheme and host. */
  relativeUrls?: boolean;
  /** Token auth: seconds until the registry refuses a token (default 300). */
  tokenLifetimeSeconds?: number;
  /** Token auth: expires_in told to clients, if it should differ from the truth. */
  tokenAdvertisedExpiresIn?: number;
  /**
   * Token auth: where the realm is. 'registry-host' (default with the proxy): the proxy
   * serves /token, as GHCR or Harbor do, and crane accepts it (crane refuses realms on
   * other loopback/private IP hosts). 'own-host': the token server's own address, as
   * Docker Hub's auth.docker.io is another host than the registry.
   */
  tokenRealm?: 'registry-host' | 'own-host';
  /**
   * The address Distribution and its fault proxy listen on, and its certificate names
   * (default 127.0.0.1): a real node's Pods reach the host at the host's end of the node's
   * link, so the proxy's faults apply to a push from a Pod too.
   */
  address?: string;
}

export interface TestRegistry {
  /** "127.0.0.1:PORT" (or the given address) - what clients use (the proxy, when there is one). */
  host: string;
  /** "http(s)://127.0.0.1:PORT" */
  url: string;
  /** Distribution itself, bypassing the proxy. */
  directHost: string;
  directUrl: string;
  tls: boolean;
  username?: string;
  password?: string;
  /** PEM of the CA that signed the registry's certificate (TLS only). */
  caPem?: string;
  /** Storage root of Distribution. */
  rootDir: string;
  logFile: string;
  /** The fault proxy (absent with proxy: false). */
  faults?: FaultProxy;
  /** Requests seen by the proxy ([] without one). */
  requests: ProxiedRequest[];
  tokenServer?: TokenServer;
  /** Upload sessions still open, as "<repository>/<uuid>" (optionally of one repository). */
  openUploads(repository?: string): string[];
  /** Last lines of the registry's log. */
  tail(lines?: number): string;
  /** SIGKILLs Distribution (an outage): the proxy stays and drops every request meanwhile. */
  kill(): Promise<void>;
  /** Starts Distribution again on the same port and storage, after kill(). */
  restart(): Promise<void>;
  /**
   * Distribution's own `registry garbage-collect` on this storage: Distribution is stopped
   * first (GC needs no writer) and started again after. Returns GC's output.
   */
  garbageCollect(options?: { deleteUntagged?: boolean }): Promise<string>;
  /** Digests (sha256:...) of every blob in the storage. */
  storedBlobs(): string[];
  stop(): Promise<void>;
}

const REALM = 'serverimage-test';
const execFileAsync = promisify(execFile);

function registryConfig(params: {
  address: string;
  port: number;
  rootDir: string;
  deleteEnabled: boolean;
  relativeUrls: boolean;
  tlsFiles?: { certificate: string; key: string };
  auth: Record<string, unknown> | undefined;
}): string {
  return stringify({
    version: 0.1,
    log: { level: 'info', formatter: 'text' },
    storage: {
      filesystem: { rootdirectory: params.rootDir },
      delete: { enabled: params.deleteEnabled },
      // Tests look at _uploads themselves; nothing may clean it behind their back.
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: `${params.address}:${params.port}`,
      secret: randomBytes(16).toString('hex'),
      relativeurls: params.relativeUrls,
      ...(params.tlsFiles ? { tls: params.tlsFiles } : {}),
    },
    health: { storagedriver: { enabled: false } },
    ...(params.auth ? { auth: params.auth } : {}),
  });
}

/** GET /v2/ answers 200 (anonymous) or 401 (auth) once Distribution is serving. */
function probe(url: string, caPem: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(`${url}/v2/`, caPem ? { ca: caPem } : {}, (res) => {
      res.resume();
      resolve(res.statusCode === 200 || res.statusCode === 401);
    });
    req.on('error', () => resolve(false));
  });
}

function listBlobs(rootDir: string): string[] {
  const root = path.join(rootDir, 'docker', 'registry', 'v2', 'blobs', 'sha256');
  const found: string[] = [];
  for (const prefix of existsSync(root) ? readdirSync(root) : []) {
    for (const hex of readdirSync(path.join(root, prefix))) {
      if (existsSync(path.join(root, prefix, hex, 'data'))) found.push(`sha256:${hex}`);
    }
  }
  return found;
}

function listOpenUploads(rootDir: string, repository?: string): string[] {
  const reposRoot = path.join(rootDir, 'docker', 'registry', 'v2', 'repositories');
  const found: string[] = [];
  const walk = (dir: string, repo: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      if (entry.name === '_uploads') {
        for (const upload of readdirSync(path.join(dir, entry.name))) {
          // Distribution v3.1 rewrites hashstates/ after a cancelled upload's folder was
          // removed, so a residue folder stays; an upload is open while it has `startedat`.
          if (existsSync(path.join(dir, entry.name, upload, 'startedat'))) found.push(`${repo}/${upload}`);
        }
      } else if (!entry.name.startsWith('_')) {
        walk(path.join(dir, entry.name), repo ? `${repo}/${entry.name}` : entry.name);
      }
    }
  };
  walk(reposRoot, '');
  return repository === undefined ? found : found.filter((u) => u.startsWith(`${repository}/`));
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const authMode = options.auth ?? 'none';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-registry-'));
  const rootDir = path.join(dir, 'storage');
  const logFile = path.join(dir, 'registry.log');
  const address = options.address ?? '127.0.0.1';
  const port = await freePort();
  const directHost = `${address}:${port}`;
  const scheme = options.tls ? 'https' : 'http';

  let tlsMaterial: { certPem: string; keyPem: string; caPem: string } | undefined;
  let tlsFiles: { certificate: string; key: string } | undefined;
  if (options.tls) {
    const ca = createCertificateAuthority('serverimage-test-registry-ca');
    const leaf = ca.issue({
      commonName: address,
      dnsNames: ['localhost'],
      ipAddresses: [...new Set(['127.0.0.1', address])],
      usage: 'server',
    });
    tlsMaterial = { ...leaf, caPem: ca.certPem };
    tlsFiles = { certificate: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') };
    writeFileSync(tlsFiles.certificate, leaf.certPem);
    writeFileSync(tlsFiles.key, leaf.keyPem, { mode: 0o600 });
  }

  const username = authMode === 'none' ? undefined : 'tester';
  const password = authMode === 'none' ? undefined : `pw-${randomBytes(8).toString('hex')}`;
  let auth: Record<string, unknown> | undefined;
  let tokenServer: TokenServer | undefined;
  if (authMode === 'basic') {
    const htpasswd = path.join(dir, 'htpasswd');
    // Distribution accepts only bcrypt entries.
    writeFileSync(htpasswd, `${username}:${bcrypt.hashSync(password!, 10)}\n`);
    auth = { htpasswd: { realm: REALM, path: htpasswd } };
  } else if (authMode === 'token') {
    const service = 'serverimage-test-registry';
    const issuer = 'serverimage-test-token-server';
    tokenServer = await startTokenServer({
      username: username!,
      password: password!,
      service,
      issuer,
      dir,
      lifetimeSeconds: options.tokenLifetimeSeconds,
      advertisedExpiresIn: options.tokenAdvertisedExpiresIn,
    });
  }

  const directUrl = `${scheme}://${directHost}`;
  const faults =
    options.proxy === false
      ? undefined
      : await startFaultProxy({
          upstream: directUrl,
          address,
          tls: tlsMaterial,
          routes: tokenServer ? [{ pathPrefix: '/token', upstream: tokenServer.realm }] : [],
        });
  if (tokenServer) {
    const sameHost = faults && (options.tokenRealm ?? 'registry-host') === 'registry-host';
    auth = {
      token: {
        realm: sameHost ? `${faults.url}/token` : tokenServer.realm,
        service: tokenServer.service,
        issuer: tokenServer.issuer,
        rootcertbundle: tokenServer.rootCertBundle,
      },
    };
  }

  const configFile = path.join(dir, 'config.yml');
  writeFileSync(
    configFile,
    registryConfig({
      address,
      port,
      rootDir,
      deleteEnabled: options.deleteEnabled ?? true,
      relativeUrls: options.relativeUrls ?? false,
      tlsFiles,
      auth,
    }),
  );
  // No tracing exporter: Distribution v3 would otherwise try to reach an OTLP collector.
  const env = { ...process.env, OTEL_TRACES_EXPORTER: 'none', OTEL_SDK_DISABLED: 'true' };
  const serve = async () => {
    const started = startProcess(toolPath('registry'), ['serve', configFile], logFile, env);
    await waitFor(
      'registry',
      () => probe(directUrl, tlsMaterial?.caPem),
      30_000,
      () => started.tail(),
    );
    return started;
  };
  let proc = startProcess(toolPath('registry'), ['serve', configFile], logFile, env);
  try {
    await waitFor(
      'registry',
      () => probe(directUrl, tlsMaterial?.caPem),
      30_000,
      () => proc.tail(),
    );
  } catch (err) {
    await proc.stop();
    await faults?.stop();
    await tokenServer?.stop();
    throw err;
  }

  return {
    host: faults?.host ?? directHost,
    url: faults?.url ?? directUrl,
    directHost,
    directUrl,
    tls: Boolean(options.tls),
    username,
    password,
    caPem: tlsMaterial?.caPem,
    rootDir,
    logFile,
    faults,
    requests: faults?.requests ?? [],
    tokenServer,
    openUploads: (repository) => listOpenUploads(rootDir, repository),
    tail: (lines) => proc.tail(lines),
    async kill() {
      await proc.stop('SIGKILL');
    },
    async restart() {
      proc = await serve();
    },
    async garbageCollect(gc = {}) {
      await proc.stop();
      const args = ['garbage-collect', ...(gc.deleteUntagged ? ['--delete-untagged'] : []), configFile];
      try {
        const { stdout, stderr } = await execFileAsync(toolPath('registry'), args, {
          env,
          maxBuffer: 64 << 20,
        });
        return stdout + stderr;
      } finally {
        proc = await serve();
      }
    },
    storedBlobs: () => listBlobs(rootDir),
    async stop() {
      await faults?.stop();
      await proc.stop();
      await tokenServer?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
