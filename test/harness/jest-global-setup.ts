// One control plane for the whole integration run; each test file works in its own
// namespaces. It runs as a child process (control-plane-main.ts) and its
// kubeconfig reaches the tests through the environment.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

declare global {
  var __serverimageControlPlane: ChildProcess | undefined;
}

export default async function globalSetup(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  // node with tsx as a loader, not the tsx wrapper: signals must reach the process itself.
  const child = spawn(
    path.join(root, 'node_modules/.bin/node'),
    ['--import', 'tsx', path.join(__dirname, 'control-plane-main.ts')],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  globalThis.__serverimageControlPlane = child;
  const firstLine = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`test-bed control plane exited with ${code}`)));
  });
  const ready = JSON.parse(firstLine) as {
    server: string;
    kubeconfigPath: string;
    auditLogPath: string;
    ms: number;
  };
  process.env.SERVERIMAGE_TESTBED_KUBECONFIG = ready.kubeconfigPath;
  process.env.SERVERIMAGE_TESTBED_AUDIT_LOG = ready.auditLogPath;
  process.stderr.write(`\n[testbed] control plane ${ready.server} up in ${ready.ms} ms\n`);
}
