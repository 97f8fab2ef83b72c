// The same path as the integration suite, on a real k3s cluster started by
// testcontainers: CRDs applied, the simulator playing KubeVirt, the operator in-process,
// one VM to an Active image. Needs a Docker engine; without one it skips and says so.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { K3sContainer, type StartedK3sContainer } from '@testcontainers/k3s';
import { getContainerRuntimeClient } from 'testcontainers';

const K3S_IMAGE = 'rancher/k3s:v1.33.5-k3s1';

async function dockerEngine(): Promise<string | undefined> {
  try {
    await getContainerRuntimeClient();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

const noEngine = await dockerEngine();
if (noEngine) {
  process.stderr.write(
    `\n[e2e] skipped: no Docker engine for testcontainers/k3s (${noEngine.split('\n')[0]})\n`,
  );
}

(noEngine ? describe.skip : describe)('on k3s (testcontainers)', () => {
  let k3s: StartedK3sContainer;

  beforeAll(async () => {
    k3s = await new K3sContainer(K3S_IMAGE).start();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'serverimage-k3s-'));
    const kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, k3s.getKubeConfig());
    // The harness reads the cluster from here, as it does the envtest control plane.
    process.env.SERVERIMAGE_TESTBED_KUBECONFIG = kubeconfig;
  }, 300_000);

  afterAll(async () => {
    await k3s?.stop();
  });

  test('a running VM becomes an Active image', async () => {
    const { runActiveImageScenario } = await import('./scenario.js');
    await runActiveImageScenario();
  }, 300_000);
});
