// One VM to an Active image on whatever cluster SERVERIMAGE_TESTBED_KUBECONFIG names.
import { craneFor } from '../harness/crane.js';
import { installProjectCrds } from '../harness/crds.js';
import { imageDiskSha256 } from '../harness/images.js';
import { startKubevirtSimulator } from '../harness/kubevirt/simulator.js';
import { SimTestClient } from '../harness/kubevirt/testing.js';
import { startOperator } from '../harness/operator.js';
import { startRegistry } from '../harness/registry.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import {
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  waitForPhase,
} from '../integration/serverimage-fixtures.js';

export async function runActiveImageScenario(): Promise<void> {
  await installProjectCrds();
  const sim = await startKubevirtSimulator({ kubeConfig: kubeConfig() });
  const registry = await startRegistry();
  const operator = await startOperator();
  try {
    const client = new SimTestClient(kubeConfig());
    const ns = await createNamespace('e2e');
    const shas = await createVm(client, ns, 'web-01', { agent: true });
    await createServerImage(client, serverImage(ns, 'web-01-image', 'web-01', registry));
    const si = await waitForPhase(client, ns, 'web-01-image', 'Active', 120_000);
    expect(await imageDiskSha256(await craneFor(registry), si.status.images[0].reference)).toBe(
      shas.rootdisk,
    );
    await expectNothingLeftBehind(client, ns, [registry]);
  } finally {
    await operator.stop();
    await sim.stop();
    await registry.stop();
  }
}
