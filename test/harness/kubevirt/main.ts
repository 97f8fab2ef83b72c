// The KubeVirt simulator as a process, for the demo:
//   npx tsx test/harness/kubevirt/main.ts --kubeconfig /path/to/kubeconfig [--data-dir DIR]
// Installs the CRDs, runs the controllers (and a virt-exportserver per Ready export) until SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { startKubevirtSimulator } from './simulator.js';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    'data-dir': { type: 'string' },
    'transition-ms': { type: 'string' },
  },
});

const kubeConfig = new k8s.KubeConfig();
if (values.kubeconfig) kubeConfig.loadFromFile(values.kubeconfig);
else kubeConfig.loadFromDefault();

const log = (message: string, err?: unknown) =>
  process.stdout.write(`${new Date().toISOString()} ${message}${err ? ` ${String(err)}` : ''}\n`);

const sim = await startKubevirtSimulator({
  kubeConfig,
  dataDir: values['data-dir'],
  transitionMs: values['transition-ms'] ? Number(values['transition-ms']) : undefined,
  log,
});
log(`kubevirt simulator running; disks in ${sim.dataDir}`);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    sim.stop().then(
      () => process.exit(0),
      (err) => {
        log('stop failed', err);
        process.exit(1);
      },
    );
  });
}
