// The README's main job, on this machine alone: a real control plane and registry, the
// KubeVirt simulator, the operator as its own process, and examples/ applied with
// kubectl, until the VM is an Active image that crane reads back. Cleans up on exit.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { startControlPlane } from '../test/harness/control-plane.js';
import { craneFor } from '../test/harness/crane.js';
import { imageDiskSha256 } from '../test/harness/images.js';
import { startKubevirtSimulator } from '../test/harness/kubevirt/simulator.js';
import { startProcess } from '../test/harness/process.js';
import { startRegistry } from '../test/harness/registry.js';
import { toolPath } from '../test/harness/tools.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NS = 'demo';
const started = Date.now();
const say = (text: string) =>
  process.stdout.write(`\n[demo +${((Date.now() - started) / 1000).toFixed(1)}s] ${text}\n`);
const cleanups: (() => Promise<void> | void)[] = [];

async function cleanup(): Promise<void> {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

async function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) =>
    execFile(command, args, { env, maxBuffer: 1 << 26 }, (err, stdout, stderr) =>
      err
        ? reject(new Error(`${path.basename(command)} ${args.join(' ')}: ${stderr || err.message}`))
        : resolve(stdout),
    ),
  );
}

async function main(): Promise<void> {
  say(
    '1/6 Finding or building the test bed (etcd, kube-apiserver, kubectl, registry, crane; first time: minutes)',
  );
  for (const tool of ['etcd', 'kube-apiserver', 'kubectl', 'registry', 'crane'] as const) toolPath(tool);

  say('2/6 Starting a real etcd and kube-apiserver');
  const controlPlane = await startControlPlane();
  cleanups.push(() => controlPlane.stop());
  const kubectl = (...args: string[]) =>
    run(toolPath('kubectl'), ['--kubeconfig', controlPlane.kubeconfigPath, ...args]);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  process.stdout.write(
    `  API server ${controlPlane.server}\n  export KUBECONFIG=${controlPlane.kubeconfigPath}\n`,
  );

  say('3/6 Starting the KubeVirt simulator and a registry (CNCF Distribution, TLS, basic auth)');
  const simulator = await startKubevirtSimulator({ kubeConfig: kc });
  cleanups.push(() => simulator.stop());
  const registry = await startRegistry({ auth: 'basic', tls: true });
  cleanups.push(() => registry.stop());
  process.stdout.write(`  registry https://${registry.host}\n`);
  process.stdout.write(await kubectl('apply', '--server-side', '-f', path.join(root, 'crds')));

  say('4/6 Starting the operator: node src/main.ts');
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-demo-'));
  cleanups.push(() => rmSync(logDir, { recursive: true, force: true }));
  const operator = startProcess(
    path.join(root, 'node_modules/.bin/node'),
    [
      '--import',
      'tsx',
      path.join(root, 'src/main.ts'),
      `--kubeconfig=${controlPlane.kubeconfigPath}`,
      '--health-probe-bind-address=0',
    ],
    path.join(logDir, 'operator.log'),
  );
  cleanups.push(() => operator.stop());

  say(`5/6 Applying examples/ to namespace ${NS} with kubectl`);
  await kubectl('create', 'namespace', NS);
  const manifests = path.join(logDir, 'manifests');
  await run('mkdir', ['-p', manifests]);
  const example = (file: string) => parse(readFileSync(path.join(root, 'examples', file), 'utf8'));
  const secret = example('registry-secret.yaml');
  secret.stringData = { username: registry.username, password: registry.password };
  const serverImage = example('serverimage.yaml');
  serverImage.spec.registry.repository = serverImage.spec.registry.repository.replace(
    'registry.example.com',
    registry.host,
  );
  serverImage.spec.registry.caBundleSecretRef = { name: 'registry-ca' };
  const caSecret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'registry-ca' },
    stringData: { 'ca.crt': registry.caPem },
  };
  const files: [string, unknown][] = [
    ['disk.yaml', example('demo/disk.yaml')],
    ['virtualmachine.yaml', example('virtualmachine.yaml')],
    ['registry-secret.yaml', secret],
    ['registry-ca.yaml', caSecret],
    ['serverimage.yaml', serverImage],
  ];
  for (const [name, body] of files) writeFileSync(path.join(manifests, name), stringify(body));
  for (const [name] of files)
    process.stdout.write(await kubectl('apply', '-n', NS, '-f', path.join(manifests, name)));

  say('6/6 Following the ServerImage (Queued -> Saving -> Active)');
  const ref = await follow(kc, serverImage.metadata.name);
  process.stdout.write(
    `\n$ kubectl get serverimages -n ${NS} -o wide\n${await kubectl('get', 'serverimages', '-n', NS, '-o', 'wide')}`,
  );
  process.stdout.write(
    `\n$ kubectl describe serverimage ${serverImage.metadata.name}\n${await kubectl('describe', 'serverimage', '-n', NS, serverImage.metadata.name)}`,
  );
  const crane = await craneFor(registry);
  cleanups.push(() => crane.cleanup());
  process.stdout.write(`\n$ crane manifest ${ref}\n${JSON.stringify(await crane.manifest(ref), null, 2)}\n`);
  const pvc = await kc
    .makeApiClient(k8s.CoreV1Api)
    .readNamespacedPersistentVolumeClaim({ namespace: NS, name: 'web-01-rootdisk' });
  const diskSha = pvc.metadata?.annotations?.['sim.serverimage.io/disk-sha256'];
  const imageSha = await imageDiskSha256(crane, ref);
  process.stdout.write(
    `\nsha256 of the VM's disk:              ${diskSha}\nsha256 of disk/disk.img in the image: ${imageSha}\n`,
  );
  if (diskSha !== imageSha) throw new Error('the image does not hold the VM disk');
  say(`Done: ${ref} is a bootable containerDisk of VM ${NS}/web-01. Cleaning up.`);
}

/** Watches the ServerImage and prints each phase and progress change; resolves with the image reference. */
function follow(kc: k8s.KubeConfig, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let last = '';
    const timeout = setTimeout(
      () => reject(new Error('the ServerImage did not become Active in 5 minutes')),
      300_000,
    );
    void new k8s.Watch(kc).watch(
      `/apis/serverimage.io/v1alpha1/namespaces/${NS}/serverimages`,
      { fieldSelector: `metadata.name=${name}` },
      (
        _type,
        si: {
          status?: {
            phase?: string;
            progress?: { bytesDone: number; bytesTotal: number };
            conditions?: { type: string; reason: string; message: string }[];
            images?: { reference: string }[];
          };
        },
      ) => {
        const status = si.status ?? {};
        const ready = status.conditions?.find((c) => c.type === 'Ready');
        const progress = status.progress
          ? ` ${(status.progress.bytesDone / 2 ** 20).toFixed(1)}/${(status.progress.bytesTotal / 2 ** 20).toFixed(1)} MiB`
          : '';
        const line = `  ${status.phase ?? '(accepted, no status yet)'} ${ready ? `${ready.reason}: ${ready.message}` : ''}${progress}`;
        if (line !== last) process.stdout.write(`${line}\n`);
        last = line;
        if (status.phase === 'Active') {
          clearTimeout(timeout);
          resolve(status.images![0]!.reference);
        }
        if (status.phase === 'Error') {
          clearTimeout(timeout);
          reject(new Error(`the ServerImage failed: ${ready?.reason}: ${ready?.message}`));
        }
      },
      (err) => err && reject(err),
    );
  });
}

main()
  .then(cleanup)
  .then(() => process.exit(0))
  .catch(async (err: unknown) => {
    process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await cleanup();
    process.exit(1);
  });
