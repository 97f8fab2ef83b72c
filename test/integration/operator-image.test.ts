// The operator's image as users run it: built from the repo's Dockerfile (on the bed's
// Debian base: no registry is reachable here, tools/build-images.sh) and run by the
// container engine through testcontainers, under the chart's security settings (uid 65532,
// read-only root file system), with the bed's kubeconfig mounted. It gets ready on the
// bed's API server, reconciles a ServerImage, and its CLI runs inside; only production
// dependencies are in it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StartedTestContainer } from 'testcontainers';
import { HostContainer, imageRef } from '../harness/container-images.js';
import { installProjectCrds } from '../harness/crds.js';
import { installKubevirtCrds } from '../harness/kubevirt/crds/install.js';
import { until } from '../harness/kubevirt/testing.js';
import { freePort } from '../harness/ports.js';
import { createNamespace, kubeConfig, kubeconfigPath, kubectl } from '../harness/testbed.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const KUBECONFIG = '/etc/serverimage/kubeconfig';

let container: StartedTestContainer;
let ns: string;
let probePort: number;
let logs = '';

/** A command in the running container, as the image's user; fails with its output. */
async function inContainer(cmd: string[]): Promise<string> {
  const r = await container.exec(cmd);
  if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')} exited ${r.exitCode}: ${r.output}`);
  return r.output;
}

beforeAll(async () => {
  const image = imageRef('operator');
  // The operator starts only where KubeVirt's export API is served.
  await installKubevirtCrds(kubeConfig());
  await installProjectCrds();
  ns = await createNamespace('image');
  probePort = await freePort();
  container = await new HostContainer(image)
    .withReadOnlyRootFilesystem()
    .withBindMounts([{ source: kubeconfigPath(), target: KUBECONFIG, mode: 'ro' }])
    .withCommand([
      `--kubeconfig=${KUBECONFIG}`,
      `--watch-namespaces=${ns}`,
      '--server-wait-timeout=2s',
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      '--metrics-bind-address=0',
      // Outside a Pod the operator cannot read its own image: the chart passes it, as here.
      `--transfer-image=${image}`,
    ])
    .withLogConsumer((stream) => stream.on('data', (chunk: Buffer) => (logs += chunk.toString())))
    .start();
}, 300_000);

afterAll(async () => {
  await container?.stop();
});

const probe = async (urlPath: string) => (await fetch(`http://127.0.0.1:${probePort}${urlPath}`)).status;

describe('the operator image', () => {
  it('gets ready on the cluster its kubeconfig names', async () => {
    const withLog = (err: Error) => {
      throw new Error(`${err.message}\noperator log:\n${logs.slice(-4000)}`);
    };
    await until('/healthz 200', async () => (await probe('/healthz')) === 200, 30_000).catch(withLog);
    await until('/readyz 200', async () => (await probe('/readyz')) === 200, 30_000).catch(withLog);
  });

  it('runs as uid and gid 65532', async () => {
    const status = await inContainer(['cat', '/proc/1/status']);
    expect(status).toMatch(/^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
    expect(status).toMatch(/^Gid:\s+65532\s+65532\s+65532\s+65532$/m);
    expect(await inContainer(['cat', '/proc/1/cmdline'])).toContain('dist/main.js');
  });

  it('runs on a read-only root file system', async () => {
    const r = await container.exec(['sh', '-c', 'echo x > /app/written']);
    expect(r.exitCode).not.toBe(0);
    expect(r.output).toContain('Read-only file system');
  });

  it('reconciles a ServerImage, and its CLI reads it from inside the image', async () => {
    const si = {
      apiVersion: 'serverimage.io/v1alpha1',
      kind: 'ServerImage',
      metadata: { name: 'no-such-vm-image', namespace: ns },
      spec: { serverRef: { name: 'no-such-vm' }, registry: { repository: '127.0.0.1:1/vms/no-such-vm' } },
    };
    const applied = await kubectl(['apply', '-f', '-'], JSON.stringify(si));
    expect(applied.stderr).toBe('');
    await until(
      'ServerImage Error ServerNotFound',
      async () => {
        const got = await kubectl(['get', 'serverimage', '-n', ns, si.metadata.name, '-o', 'json']);
        const status = (JSON.parse(got.stdout) as { status?: { phase?: string; conditions?: object[] } })
          .status;
        return status?.phase === 'Error' && JSON.stringify(status.conditions).includes('ServerNotFound');
      },
      30_000,
    );
    expect(await inContainer(['serverimage', '--help'])).toContain('serverimage');
    const listed = await inContainer(['serverimage', 'list', '-n', ns, `--kubeconfig=${KUBECONFIG}`]);
    expect(listed).toMatch(/no-such-vm-image\s+.*Error/);
  });

  it('holds no dependency that only development needs', async () => {
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages)
      .filter(([p, meta]) => meta.dev && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(p))
      .map(([p]) => p.slice('node_modules/'.length));
    expect(devOnly).toEqual(expect.arrayContaining(['typescript', 'jest', 'testcontainers']));
    const installed = (
      await inContainer([
        'sh',
        '-c',
        'cd /app/node_modules && for d in *; do case $d in @*) ls -d "$d"/*;; *) echo "$d";; esac; done',
      ])
    )
      .trim()
      .split('\n');
    expect(installed).toEqual(expect.arrayContaining(['@kubernetes/client-node', 'pino', 'zod']));
    expect(installed.filter((p) => devOnly.includes(p))).toEqual([]);
  });
});
