// One control plane for the whole integration run; each test file works in its own
// namespaces. Its kubeconfig reaches the tests through the environment.
import { startControlPlane, type ControlPlane } from './control-plane.js';

declare global {
  var __serverimageControlPlane: ControlPlane | undefined;
}

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const controlPlane = await startControlPlane();
  globalThis.__serverimageControlPlane = controlPlane;
  process.env.SERVERIMAGE_TESTBED_KUBECONFIG = controlPlane.kubeconfigPath;
  process.stderr.write(`\n[testbed] control plane ${controlPlane.server} up in ${Date.now() - started} ms\n`);
}
