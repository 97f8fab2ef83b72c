// What a person sees the first time they run the operator or the CLI and something
// around them is wrong: no kubeconfig, a typo in a flag, a cluster that cannot be reached
// (nothing listening, a certificate not trusted, a name that does not resolve), an old
// Node.js. Each runs the real entry point as a process and checks the exit code, the
// words, and that no stack trace is printed (docs/troubleshooting.md lists them).
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { checkTransferSettings } from '../../src/transfer/check-settings.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { freePort } from '../harness/ports.js';
import { startProcess, waitFor } from '../harness/process.js';
import { createNamespace, kubeconfigPath } from '../harness/testbed.js';
import { root } from './cli-fixtures.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const NODE = path.join(root, 'node_modules/.bin/node');
const OPERATOR = path.join(root, 'src/main.ts');
const CLI = path.join(root, 'src/cli/main.ts');
/** The operator's endpoints off, so runs never clash on ports. */
const NO_PORTS = ['--metrics-bind-address=0', '--health-probe-bind-address=0'];

/** An empty HOME and no KUBECONFIG or in-cluster variables: a machine without any cluster. */
function bareEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: mkdtempSync(path.join(os.tmpdir(), 'bare-home-')) };
  for (const name of [
    'KUBECONFIG',
    'KUBERNETES_SERVICE_HOST',
    'KUBERNETES_SERVICE_PORT',
    'SERVERIMAGE_REPOSITORY',
  ])
    delete env[name];
  return { ...env, ...extra };
}

function run(node: string, script: string, args: string[], env = bareEnv()): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      node,
      ['--import', 'tsx', script, ...args],
      { cwd: root, env, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

/** No stack trace on either stream, and the message in one line on stderr. */
function expectOneLine(result: Run, code: number, ...words: (string | RegExp)[]): void {
  const all = `${result.stdout}\n${result.stderr}`;
  expect({ code: result.code, stackLines: all.split('\n').filter((l) => l.startsWith('    at ')) }).toEqual({
    code,
    stackLines: [],
  });
  for (const w of words) expect(result.stderr).toMatch(w);
}

/** A copy of the bed's kubeconfig with its cluster entry edited. */
function kubeconfigWith(edit: (cluster: Record<string, unknown>) => void): string {
  const config = parse(readFileSync(kubeconfigPath(), 'utf8')) as {
    clusters: { cluster: Record<string, unknown> }[];
  };
  for (const c of config.clusters) edit(c.cluster);
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'first-contact-')), 'config');
  writeFileSync(file, stringify(config));
  return file;
}

const NO_CONFIG = [/no cluster configuration found/, /--kubeconfig/, /KUBECONFIG/, /Pod/];

describe('no cluster configuration anywhere', () => {
  test('the operator says so in one line and exits 2', async () => {
    const result = await run(NODE, OPERATOR, NO_PORTS);
    expectOneLine(result, 2, ...NO_CONFIG);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('serverimage list says so in one line and exits 2', async () => {
    const result = await run(NODE, CLI, ['list']);
    expectOneLine(result, 2, ...NO_CONFIG);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('a --kubeconfig file that does not exist is named, exit 2', async () => {
    const result = await run(NODE, CLI, ['list', '--kubeconfig', '/nonexistent/kubeconfig']);
    expectOneLine(result, 2, /cannot read kubeconfig \/nonexistent\/kubeconfig: no such file/);
  });
});

describe('the operator with a flag it does not know', () => {
  test('--bogus: invalid settings, the flag named, --help pointed at, exit 2', async () => {
    const result = await run(NODE, OPERATOR, ['--bogus', ...NO_PORTS]);
    expectOneLine(result, 2, /invalid settings/, /--bogus: unknown flag/, /--help/);
  });

  test('a known flag without its value is named too', async () => {
    const result = await run(NODE, OPERATOR, [...NO_PORTS, '--workers']);
    expectOneLine(result, 2, /invalid settings/, /--workers.*needs a value/);
  });
});

describe('a cluster that cannot be reached', () => {
  let closedPort: number;
  let refused: string;
  beforeAll(async () => {
    closedPort = await freePort();
    refused = kubeconfigWith((c) => {
      c.server = `https://127.0.0.1:${closedPort}`;
    });
  });

  test('the operator names the address and ECONNREFUSED, exit 1', async () => {
    const result = await run(NODE, OPERATOR, [`--kubeconfig=${refused}`, ...NO_PORTS]);
    expectOneLine(
      result,
      1,
      new RegExp(`cannot reach the Kubernetes API server at https://127\\.0\\.0\\.1:${closedPort}`),
      /ECONNREFUSED/,
    );
    expect(result.stderr).not.toContain('fetch failed');
  });

  test('the CLI names the address and ECONNREFUSED, exit 1', async () => {
    const result = await run(NODE, CLI, ['list', '--kubeconfig', refused]);
    expectOneLine(result, 1, new RegExp(`https://127\\.0\\.0\\.1:${closedPort}`), /ECONNREFUSED/);
    expect(result.stderr).not.toContain('fetch failed');
  });

  test('a server whose certificate is not trusted: the CLI says TLS and the code, exit 1', async () => {
    // The bed's real API server, but the kubeconfig without its CA.
    const untrusted = kubeconfigWith((c) => {
      delete c['certificate-authority-data'];
      delete c['certificate-authority'];
    });
    const result = await run(NODE, CLI, ['list', '--kubeconfig', untrusted]);
    expectOneLine(
      result,
      1,
      /cannot reach the Kubernetes API server at https:/,
      /TLS certificate is not trusted \([A-Z_]+\)/,
    );
    expect(result.stderr).not.toContain('--use-system-ca');
  });

  test('a server name that does not resolve: the operator says ENOTFOUND, exit 1', async () => {
    const unresolvable = kubeconfigWith((c) => {
      c.server = 'https://no-such-host.invalid:6443';
    });
    const result = await run(NODE, OPERATOR, [`--kubeconfig=${unresolvable}`, ...NO_PORTS]);
    expectOneLine(
      result,
      1,
      /https:\/\/no-such-host\.invalid:6443/,
      /does not resolve \((ENOTFOUND|EAI_AGAIN)\)|EAI_AGAIN/,
    );
  });
});

describe('a transfer priority class the cluster does not have', () => {
  test('refused at start-up in one line naming the flag, exit 2', async () => {
    const result = await run(NODE, OPERATOR, [
      `--kubeconfig=${kubeconfigPath()}`,
      '--transfer-priority-class-name=no-such-class',
      ...NO_PORTS,
    ]);
    expectOneLine(
      result,
      2,
      /^serverimage-operator: --transfer-priority-class-name: PriorityClass "no-such-class" does not exist/,
      /transfer\.priorityClassName/,
    );
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('a ServiceAccount that may not read PriorityClasses: told so, not "does not exist", exit 1', async () => {
    const admin = new KubeConfig();
    admin.loadFromFile(kubeconfigPath());
    const core = admin.makeApiClient(CoreV1Api);
    const namespace = await createNamespace('no-rbac');
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'nobody' } } });
    const token = await core.createNamespacedServiceAccountToken({
      namespace,
      name: 'nobody',
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const cluster = admin.getCurrentCluster()!;
    const asNobody = new KubeConfig();
    asNobody.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'nobody', token: token.status!.token }],
      contexts: [{ name: 'nobody', cluster: cluster.name, user: 'nobody' }],
      currentContext: 'nobody',
    });
    const refused = checkTransferSettings(asNobody, { transferPriorityClassName: 'system-cluster-critical' });
    await expect(refused).rejects.toThrow(
      /^--transfer-priority-class-name: cannot check PriorityClass "system-cluster-critical": the operator's ServiceAccount may not get priorityclasses/,
    );
    await expect(refused).rejects.toMatchObject({ invalid: false });
  });

  test('one the API server made itself passes the check', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath());
    await expect(
      checkTransferSettings(kc, { transferPriorityClassName: 'system-cluster-critical' }),
    ).resolves.toBeUndefined();
  });
});

// The machine's own node when it is older than the package needs (Node 20 here): the
// entry points must say which Node they need before any import fails on it.
const OLD_NODE = ['/usr/bin/node', '/usr/local/bin/node'].find((candidate) => {
  try {
    const major = Number(/v(\d+)/.exec(String(execFileSync(candidate, ['--version'])))?.[1]);
    return major > 0 && major < 24;
  } catch {
    return false;
  }
});

(OLD_NODE ? describe : describe.skip)(`an older Node.js (${OLD_NODE ?? 'none on this machine'})`, () => {
  test.each([
    ['serverimage', CLI, ['list']],
    ['serverimage-operator', OPERATOR, NO_PORTS],
  ])('%s says it needs Node.js 24, exit 1', async (program, script, args) => {
    const result = await run(OLD_NODE!, script, args as string[]);
    expectOneLine(result, 1, new RegExp(`^${program}: needs Node\\.js 24 or newer; this is Node\\.js \\d+`));
  });
});

describe('an API server still warming up', () => {
  let proxy: FaultProxy | undefined;
  afterAll(async () => {
    await proxy?.stop();
  });

  test('429 "storage is (re)initializing" at start-up: one short line while the operator waits, no client dump', async () => {
    // The bed's real API server behind a fault proxy that knows it as its admin (client
    // certificate) and answers the first requests as a warming-up server does.
    const bed = parse(readFileSync(kubeconfigPath(), 'utf8')) as {
      clusters: { cluster: Record<string, string> }[];
      users: { user: Record<string, string> }[];
    };
    const b64 = (v: string) => Buffer.from(v, 'base64').toString('utf8');
    proxy = await startFaultProxy({
      upstream: bed.clusters[0]!.cluster.server!,
      upstreamTls: {
        caPem: b64(bed.clusters[0]!.cluster['certificate-authority-data']!),
        certPem: b64(bed.users[0]!.user['client-certificate-data']!),
        keyPem: b64(bed.users[0]!.user['client-key-data']!),
      },
    });
    const warmingUp = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'storage is (re)initializing',
      reason: 'TooManyRequests',
      details: { retryAfterSeconds: 1 },
      code: 429,
    };
    proxy.respond(429, { times: 4 }, { body: warmingUp, headers: { 'Retry-After': '1' } });
    const kubeconfig = path.join(mkdtempSync(path.join(os.tmpdir(), 'warm-up-')), 'config');
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'proxy', cluster: { server: proxy.url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'proxied', user: {} }],
        contexts: [{ name: 'proxy', context: { cluster: 'proxy', user: 'proxied' } }],
        'current-context': 'proxy',
      }),
    );
    const operator = startProcess(
      NODE,
      ['--import', 'tsx', OPERATOR, `--kubeconfig=${kubeconfig}`, ...NO_PORTS],
      path.join(path.dirname(kubeconfig), 'operator.log'),
      bareEnv(),
    );
    try {
      // Past the warm-up: the proxy answered its 429s and then let a request through.
      await waitFor(
        'the operator to get past the warm-up',
        async () => proxy!.requests.some((r) => !r.injected && r.status === 200),
        60_000,
        () => operator.tail(),
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
    } finally {
      await operator.stop();
    }
    expect(proxy.requests.filter((r) => r.injected).length).toBe(4);
    const log = readFileSync(operator.logFile, 'utf8');
    const lines = log.trimEnd().split('\n');
    const aboutWarmUp = lines.filter((l) => /storage is \(re\)initializing/.test(l));
    // The start-up wait says it once. On a loaded machine an informer may meet one of the
    // 429s too (the wait's backoff and the informers' starts interleave): then it says so
    // once, as short, and at info level too.
    expect(aboutWarmUp[0]).toContain('waiting for the API server to be ready');
    expect(aboutWarmUp.filter((l) => l.includes('waiting for the API server to be ready'))).toHaveLength(1);
    for (const line of aboutWarmUp) {
      expect(line).toContain('the API server answered 429 (TooManyRequests): storage is (re)initializing');
      expect(line.length).toBeLessThan(300);
      expect(JSON.parse(line)).toMatchObject({ level: 30 });
    }
    expect(aboutWarmUp.length).toBeLessThanOrEqual(4);
    expect(log).not.toMatch(/HTTP-Code|Headers:|^ {4}at /m);
  });
});
