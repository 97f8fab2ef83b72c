// The real kube-scheduler (k8s.io/kubernetes at the API server's version) binds the Pods
// virt-controller makes (virt-launcher, exporter) to the bed's one Node, checking their
// nodeSelectors and resource requests (KubeVirt's devices.kubevirt.io/* included) as in
// a cluster, and their claims with its volume plugins (VolumeBinding: a Pod waits until its
// PVCs are Bound to PVs, which kube-controller-manager's PV controller does here).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../ports.js';
import { startProcess, type ManagedProcess } from '../../process.js';
import { toolPath } from '../../tools.js';

export async function startKubeScheduler(options: {
  kubeconfigPath: string;
  dir: string;
  /**
   * Schedule only the Pods that name this scheduler (spec.schedulerName), with the default
   * plugins: a test on a control plane other tests share leaves their Pods alone.
   */
  schedulerName?: string;
}): Promise<ManagedProcess> {
  const config = path.join(options.dir, 'kube-scheduler.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      apiVersion: 'kubescheduler.config.k8s.io/v1',
      kind: 'KubeSchedulerConfiguration',
      clientConnection: { kubeconfig: options.kubeconfigPath },
      leaderElection: { leaderElect: false },
      ...(options.schedulerName ? { profiles: [{ schedulerName: options.schedulerName }] } : {}),
    }),
  );
  const port = await freePort();
  return startProcess(
    toolPath('kube-scheduler'),
    [`--config=${config}`, `--secure-port=${port}`, '--bind-address=127.0.0.1', '--v=1'],
    path.join(options.dir, 'kube-scheduler.log'),
  );
}
