// The README's main job, on this machine alone: a real control plane and registry,
// KubeVirt's own virt-controller (the test bed's real-controller bed: kube-scheduler,
// snapshot-controller, kube-controller-manager, stand-ins for the node's KubeVirt parts)
// with a real node (the real kubelet on containerd, kube-proxy, CoreDNS), the operator
// installed from charts/ with helm as two Pods of the image built from the repo's
// Dockerfile, and examples/ applied with kubectl, followed with the serverimage CLI until
// the VM is an Active image that crane reads back. Cleans up on exit. Needs root (mount
// and network namespaces, containerd).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { craneFor } from '../test/harness/crane.js';
import { imageDiskSha256 } from '../test/harness/images.js';
import { startRealKubevirt } from '../test/harness/kubevirt/real/bed.js';
import type { RealNode } from '../test/harness/node/real-node.js';
import { startRegistry } from '../test/harness/registry.js';
import { toolPath, type ToolName } from '../test/harness/tools.js';
import { watchKubevirtObjects } from './demo-kubevirt-objects.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NS = 'demo';
const started = Date.now();
const say = (text: string) =>
  process.stdout.write(`\n[demo +${((Date.now() - started) / 1000).toFixed(1)}s] ${text}\n`);
const cleanups: (() => Promise<void> | void)[] = [];

let cleaning: Promise<void> | undefined;
/** Once only: Ctrl-C and the failure it causes in main() both come here. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  })();
  return cleaning;
}
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  void cleanup().then(() => process.exit(130));
});

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

/**
 * The serverimage CLI as a user runs it, as its own process. Its output is piped through,
 * not inherited, so it is not a terminal: one plain line per change, not a redrawn bar.
 * `meanwhile.run` runs once the CLI has printed a line that matches `meanwhile.line`.
 */
async function runCli(args: string[], meanwhile?: { line: RegExp; run: () => Promise<void> }): Promise<void> {
  const { spawn } = await import('node:child_process');
  const shown = args.slice(0, args.indexOf('--kubeconfig'));
  process.stdout.write(`\n$ serverimage ${shown.join(' ')}\n`);
  const child = spawn(
    path.join(root, 'node_modules/.bin/node'),
    ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), ...args],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stop = () => void (child.exitCode === null && child.kill('SIGINT'));
  cleanups.push(stop);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  let sideTask: Promise<void> = Promise.resolve();
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    if (!meanwhile) return;
    output += chunk.toString();
    if (meanwhile.line.test(output)) {
      sideTask = meanwhile.run().catch((err: unknown) => {
        stop();
        throw err;
      });
      // Awaited after the CLI ends; until then a failure must not count as unhandled.
      sideTask.catch(() => undefined);
      meanwhile = undefined;
    }
  });
  child.stderr.pipe(process.stderr, { end: false });
  const code = await exited;
  await sideTask;
  if (code !== 0) throw new Error(`serverimage ${shown.join(' ')} exited ${code}`);
}

/** Only what the demo uses: the tools script builds just the tools named. */
const TOOLS: ToolName[] = [
  'etcd',
  'kube-apiserver',
  'kubectl',
  'registry',
  'crane',
  'kubevirt-crds',
  // The real exporter behind every export.
  'virt-exportserver',
  'virt-controller',
  'kube-scheduler',
  'snapshot-controller',
  'kube-controller-manager',
  // The real node, and helm for the operator's chart.
  'kubelet',
  'kube-proxy',
  'coredns',
  'helm',
];

/** The control plane, KubeVirt's virt-controller and a real node (real/bed.ts, node: 'real'). */
async function startKubevirt(): Promise<{ kubeconfigPath: string; node: RealNode }> {
  say(
    "2/6 Starting a real etcd and kube-apiserver, KubeVirt's own virt-controller v1.8.4, kube-scheduler, snapshot-controller, kube-controller-manager, a real node (kubelet on containerd, kube-proxy, CoreDNS) with the operator's and the exporter's images, and stand-ins for KubeVirt's node parts (virt-handler, CSI driver)",
  );
  const bed = await startRealKubevirt({ node: 'real', nodeImages: ['operator'] }).catch((err: unknown) => {
    // virt-controller's export CA needs a mount namespace, the node a network namespace.
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${message}\nThe test bed needs root (mount and network namespaces, containerd).`);
  });
  cleanups.push(() => bed.stop());
  return { kubeconfigPath: bed.kubeconfigPath, node: bed.realNode! };
}

async function main(): Promise<void> {
  say(
    `1/6 Finding or building the test bed's tools (${TOOLS.join(', ')}); the first time this takes minutes (virt-controller and snapshot-controller about ten each on 2 cores)`,
  );
  for (const tool of TOOLS) toolPath(tool);

  const kubevirt = await startKubevirt();
  const { kubeconfigPath } = kubevirt;
  const kubectl = (...args: string[]) => run(toolPath('kubectl'), ['--kubeconfig', kubeconfigPath, ...args]);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  process.stdout.write(
    `  API server ${kc.getCurrentCluster()?.server}\n  export KUBECONFIG=${kubeconfigPath}\n`,
  );

  // The operator's Pods reach the host at the host's end of the node's link; the
  // registry's certificate names that address.
  const { node } = kubevirt;
  say(
    `3/6 Starting a registry (CNCF Distribution, TLS, basic auth) on ${node.network.hostIp}, where Pods reach it`,
  );
  const registry = await startRegistry({
    auth: 'basic',
    tls: true,
    address: node.network.hostIp,
    proxy: false,
  });
  cleanups.push(() => registry.stop());
  process.stdout.write(`  registry https://${registry.host}\n`);

  say(
    '4/6 Installing the operator with helm from charts/ (CRDs, two replicas, leader election), its image built from the Dockerfile',
  );
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-demo-'));
  cleanups.push(() => rmSync(logDir, { recursive: true, force: true }));
  await node.imported();
  const image = node.image('operator');
  const helmArgs = [
    'install',
    'serverimage-operator',
    path.join(root, 'charts/serverimage-operator'),
    '--namespace',
    'serverimage-system',
    '--create-namespace',
    '--set',
    `image.repository=${image.slice(0, image.lastIndexOf(':'))}`,
    '--set',
    `image.tag=${image.slice(image.lastIndexOf(':') + 1)}`,
    // Imported into the node's containerd: no registry serves it.
    '--set',
    'image.pullPolicy=Never',
    // The node where containers run (the other Node is the stand-in of KubeVirt's).
    '--set',
    `nodeSelector.kubernetes\\.io/hostname=${node.nodeName}`,
    // The transfer Pods (the operator's image, pushing each disk) there too.
    '--set',
    `transfer.nodeSelector.kubernetes\\.io/hostname=${node.nodeName}`,
    '--wait',
    '--timeout',
    '5m',
  ];
  process.stdout.write(
    `$ helm ${helmArgs.map((a) => (a.startsWith('/') ? path.relative(root, a) : a)).join(' ')}\n`,
  );
  process.stdout.write(await run(toolPath('helm'), [...helmArgs, '--kubeconfig', kubeconfigPath]));
  cleanups.push(async () => {
    await run(toolPath('helm'), [
      'uninstall',
      'serverimage-operator',
      '-n',
      'serverimage-system',
      '--kubeconfig',
      kubeconfigPath,
    ]);
  });
  process.stdout.write(
    `\n$ kubectl get pods -A -o wide\n${await kubectl('get', 'pods', '-A', '-o', 'wide')}`,
  );
  process.stdout.write(
    `\n$ ctr -n k8s.io containers ls   # the node's containerd\n${await node.containerd.ctr(['containers', 'ls'])}`,
  );

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
    ['registry-secret.yaml', secret],
    ['registry-ca.yaml', caSecret],
    ['serverimage.yaml', serverImage],
    ['disk.yaml', example('demo/disk.yaml')],
    ['virtualmachine.yaml', example('virtualmachine.yaml')],
  ];
  for (const [name, body] of files) writeFileSync(path.join(manifests, name), stringify(body));
  const apply = async (names: string[]) => {
    process.stdout.write(`$ kubectl apply -n ${NS} ${names.map((n) => `-f ${n}`).join(' ')}\n`);
    const args = names.flatMap((n) => ['-f', path.join(manifests, n)]);
    process.stdout.write(await kubectl('apply', '-n', NS, ...args));
  };
  const kubevirtObjects = await watchKubevirtObjects(kc, NS, () => node.containerd.ctr(['containers', 'ls']));
  cleanups.push(() => kubevirtObjects.stop());
  // The ServerImage before its VirtualMachine (as GitOps may apply them: in any order).
  // It waits in Queued for the VM, which step 6 applies while the CLI watches, so that
  // the whole of Queued -> Saving -> Active is seen, not only the part after the CLI started.
  await apply(files.slice(0, 3).map(([name]) => name));

  say('6/6 Following the ServerImage with the CLI (Queued -> Saving -> Active); the VM comes meanwhile');
  const name = serverImage.metadata.name as string;
  const serverimage = (args: string[], meanwhile?: Parameters<typeof runCli>[1]) =>
    runCli([...args, '--kubeconfig', kubeconfigPath], meanwhile);
  // Once the CLI shows the image Queued (it is watching by then), the VM arrives.
  await serverimage(['wait', name, '-n', NS, '--timeout', '5m'], {
    line: /^\[\+\d+s\] Queued /m,
    run: () => apply(files.slice(3).map(([file]) => file)),
  });
  await serverimage(['list', '-n', NS]);
  process.stdout.write(
    `\n$ kubectl get serverimages -n ${NS} -o wide\n${await kubectl('get', 'serverimages', '-n', NS, '-o', 'wide')}`,
  );
  await serverimage(['describe', name, '-n', NS]);
  process.stdout.write(
    `\nWhat KubeVirt made for it (now deleted by the operator):\n${kubevirtObjects.describe()}\n`,
  );
  process.stdout.write(
    `\n$ kubectl get vm,vmi,datavolumes,pods -n ${NS}\n${await kubectl('get', 'vm,vmi,datavolumes,pods', '-n', NS)}`,
  );
  process.stdout.write(
    `\n$ kubectl get pods -n serverimage-system -o wide\n${await kubectl('get', 'pods', '-n', 'serverimage-system', '-o', 'wide')}`,
  );
  const ref = await kubectl(
    'get',
    'serverimage',
    '-n',
    NS,
    name,
    '-o',
    'jsonpath={.status.images[0].reference}',
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

main()
  .then(cleanup)
  .then(() => process.exit(0))
  .catch(async (err: unknown) => {
    if (!interrupted) {
      process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    await cleanup();
    process.exit(interrupted ? 130 : 1);
  });
