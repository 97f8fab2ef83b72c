// What a test file needs from the shared bed: the kubeconfig, API clients, the real
// kubectl, and a namespace of its own.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { toolPath } from './tools.js';

const execFileAsync = promisify(execFile);

export function kubeconfigPath(): string {
  const p = process.env.SERVERIMAGE_TESTBED_KUBECONFIG;
  if (!p)
    throw new Error(
      'SERVERIMAGE_TESTBED_KUBECONFIG is not set: run integration tests through jest (global setup)',
    );
  return p;
}

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real kubectl against the bed; never throws on a non-zero exit. */
export async function kubectl(args: string[], input?: string): Promise<KubectlResult> {
  const run = execFileAsync(toolPath('kubectl'), ['--kubeconfig', kubeconfigPath(), ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  if (input !== undefined) {
    run.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await run;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Creates a fresh namespace with a readable prefix. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubeConfig()
    .makeApiClient(k8s.CoreV1Api)
    .createNamespace({ body: { metadata: { name } } });
  return name;
}
