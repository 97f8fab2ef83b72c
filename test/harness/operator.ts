// The operator under test: in-process (fast, for most tests) or as a real process
// (`node --import tsx src/main.ts`, for kill-and-restart tests). Both log JSON to a file.
// On the real-controller bed a process resolves the bed's Service names through the
// bed's hosts file (SERVERIMAGE_TESTBED_HOSTS, kubevirt/real/cluster-dns.ts), as the
// in-process operator does through the bed's lookup hook.
import { createWriteStream, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import {
  startServerImageController,
  type RunningServerImageController,
} from '../../src/controllers/serverimage/controller.js';
import { imageRef } from './container-images.js';
import { REAL_NODE_ENV } from './kubevirt/real/bed.js';
import { withClusterDns } from './kubevirt/real/cluster-dns.js';
import { freePort } from './ports.js';
import { startProcess, type ManagedProcess } from './process.js';
import { kubeConfig, kubeconfigPath } from './testbed.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const logDir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-operator-'));

/** Short waits so that tests of deadlines run in seconds. */
export const TEST_FLAGS = [
  '--server-wait-timeout=4s',
  '--server-state-timeout=6s',
  '--snapshot-timeout=6s',
  // A real exporter Pod (the bed's real node) is Ready only after its probe's 5 s initial
  // delay, then every 5 s, and its container's start: 7-12 s here, more on a loaded machine.
  '--export-timeout=60s',
  '--registry-retry-timeout=60s',
  '--progress-interval=200ms',
  // Any free port: several operators may run at once.
  '--metrics-bind-address=127.0.0.1:0',
  '--health-probe-bind-address=127.0.0.1:0',
];

/**
 * The transfer Pods' flags unless a test gives its own: the operator's image built here from
 * the repo's Dockerfile (build-images.sh; cached by a hash of src/), as the real node's
 * containerd calls it; on a bed with the real node (kubevirt/real/bed.ts), the Pods pinned
 * there (the kubelet stand-in's Node runs no containers) with small requests (the node's
 * 2 cores are shared by every Pod of a test file).
 */
function withTransferPods(flags: string[]): string[] {
  const given = (flag: string) => flags.some((f) => f.startsWith(flag));
  const node = process.env[REAL_NODE_ENV];
  return [
    ...(given('--transfer-image') ? [] : [`--transfer-image=docker.io/${imageRef('operator')}`]),
    ...(node && !given('--transfer-node-selector')
      ? [`--transfer-node-selector=kubernetes.io/hostname=${node}`]
      : []),
    ...(given('--transfer-cpu-request') ? [] : ['--transfer-cpu-request=50m']),
    ...(given('--transfer-memory-request') ? [] : ['--transfer-memory-request=64Mi']),
    ...flags,
  ];
}

export interface InProcessOperator extends RunningServerImageController {
  logFile: string;
}

/** `kc`: whom the operator talks as; the bed's admin unless a test gives another identity. */
export async function startOperator(
  flags: string[] = [],
  kc: KubeConfig = kubeConfig(),
): Promise<InProcessOperator> {
  const config = loadConfig([...TEST_FLAGS, ...withTransferPods(flags)], {});
  const logFile = path.join(logDir, `in-process-${Date.now()}.log`);
  const logger = pino({ level: 'debug' }, createWriteStream(logFile));
  const running = await startServerImageController({ kubeConfig: kc, config, logger });
  return { ...running, logFile };
}

/** The real operator process, as a user runs it. */
export function startOperatorProcess(flags: string[] = [], name = 'operator'): ManagedProcess {
  // node itself with tsx as a loader, not the tsx wrapper (which runs a child), so that a
  // signal reaches the operator.
  const node = path.join(root, 'node_modules/.bin/node');
  const args = [
    '--import',
    'tsx',
    path.join(root, 'src/main.ts'),
    `--kubeconfig=${kubeconfigPath()}`,
    '--log-level=debug',
    ...TEST_FLAGS,
    ...withTransferPods(flags),
  ];
  const hosts = process.env.SERVERIMAGE_TESTBED_HOSTS;
  const run = hosts ? withClusterDns(hosts, node, args) : { command: node, args };
  return startProcess(run.command, run.args, path.join(logDir, `${name}-${Date.now()}.log`));
}

export interface ProbedOperatorProcess {
  process: ManagedProcess;
  metrics(): Promise<{ status: number; text: string }>;
  probe(path: '/healthz' | '/readyz'): Promise<{ status: number; text: string }>;
  /** The readiness URL, for a client other than probe() (the chart's helm test script). */
  readyzUrl: string;
}

/** An operator process with its metrics and probe endpoints on ports of its own. */
export async function startProbedOperatorProcess(
  name: string,
  flags: string[] = [],
): Promise<ProbedOperatorProcess> {
  const [metricsPort, probePort] = [await freePort(), await freePort()];
  const proc = startOperatorProcess(
    [
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      ...flags,
    ],
    name,
  );
  const get = async (port: number, urlPath: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${urlPath}`);
    return { status: res.status, text: await res.text() };
  };
  return {
    process: proc,
    metrics: () => get(metricsPort, '/metrics'),
    probe: (urlPath) => get(probePort, urlPath),
    readyzUrl: `http://127.0.0.1:${probePort}/readyz`,
  };
}
