// The real kube-controller-manager, with the controllers the bed's storage and clean-up
// need and nothing else: the garbage collector (KubeVirt deletes none of an export's
// Pod, Service, Secrets, ConfigMap, restore PVCs itself: they go with their owner), the
// PV controller (persistentvolume-binder: it asks the external provisioner, the
// simulator's real/csi-volumes.ts, for a volume and binds the claim to it, and marks a
// claim's PV Released when the claim is gone) and the PV/PVC protection controllers
// (they let a claim go once no Pod uses it, a PV once no claim is bound to it). No
// attach-detach controller: the kubelet stand-in mounts nothing, and the real node's
// volumes are local PVs, which need no attaching. With a real node, the endpointslice
// controller too: the node's kube-proxy and CoreDNS follow the slices it writes; and what
// Pods of a workload need (`workloads`): the deployment and replicaset controllers (the
// operator installed by its chart), the serviceaccount controller (`default` in every
// namespace: the API server's ServiceAccount admission refuses a Pod whose ServiceAccount
// is missing) and root-ca-cert-publisher (the ConfigMap kube-root-ca.crt of a Pod's token
// volume).
import path from 'node:path';
import { startProcess, type ManagedProcess } from '../../process.js';
import { toolPath } from '../../tools.js';

const CONTROLLERS = ['garbagecollector', 'persistentvolume-binder', 'pv-protection', 'pvc-protection'];

export function startKubeControllerManager(options: {
  kubeconfigPath: string;
  dir: string;
  endpointSlices?: boolean;
  /** The cluster's CA file: with it, the controllers of workloads' Pods (above). */
  workloads?: { rootCaFile: string };
}): ManagedProcess {
  const controllers = [
    ...CONTROLLERS,
    ...(options.endpointSlices ? ['endpointslice'] : []),
    ...(options.workloads ? ['deployment', 'replicaset', 'serviceaccount', 'root-ca-cert-publisher'] : []),
  ];
  return startProcess(
    toolPath('kube-controller-manager'),
    [
      `--kubeconfig=${options.kubeconfigPath}`,
      `--controllers=${controllers.join(',')}`,
      '--leader-elect=false',
      '--secure-port=0',
      `--cert-dir=${options.dir}`,
      ...(options.workloads ? [`--root-ca-file=${options.workloads.rootCaFile}`] : []),
      '--v=1',
    ],
    path.join(options.dir, 'kube-controller-manager.log'),
  );
}
