// The real kube-controller-manager running only its garbage collector: the objects
// virt-controller makes for an export (exporter Pod, Service, token and cert Secrets,
// manifest ConfigMap, restore PVCs) and for a snapshot go with their owner, as in a
// cluster; KubeVirt deletes none of them itself.
import path from 'node:path';
import { startProcess, type ManagedProcess } from '../../process.js';
import { toolPath } from '../../tools.js';

export function startGarbageCollector(options: { kubeconfigPath: string; dir: string }): ManagedProcess {
  return startProcess(
    toolPath('kube-controller-manager'),
    [
      `--kubeconfig=${options.kubeconfigPath}`,
      '--controllers=garbagecollector',
      '--leader-elect=false',
      '--secure-port=0',
      `--cert-dir=${options.dir}`,
      '--v=1',
    ],
    path.join(options.dir, 'kube-controller-manager.log'),
  );
}
