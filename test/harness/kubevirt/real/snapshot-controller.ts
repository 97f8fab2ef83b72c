// The real snapshot-controller (external-snapshotter, cmd/snapshot-controller, at the tag
// whose CRDs the bed installs): for each VolumeSnapshot virt-controller makes it creates
// the VolumeSnapshotContent (from the PVC's PersistentVolume and the snapshot class), puts
// the finalizers on the PVC, snapshot and content, and copies the content's status
// (readyToUse, creationTime, restoreSize, error) into the VolumeSnapshot's. The CSI side
// (csi-snapshotter sidecar + driver) is the simulator's (csi-snapshotter.ts).
import path from 'node:path';
import { startProcess, type ManagedProcess } from '../../process.js';
import { toolPath } from '../../tools.js';

export function startSnapshotController(options: { kubeconfigPath: string; dir: string }): ManagedProcess {
  return startProcess(
    toolPath('snapshot-controller'),
    [
      `--kubeconfig=${options.kubeconfigPath}`,
      '--leader-election=false',
      // Its defaults (5 qps, burst 10) are a cluster's; a scale case here makes 8 snapshots
      // at once, each several writes (finalizers, the content, the status).
      '--kube-api-qps=50',
      '--kube-api-burst=100',
      '--v=2',
    ],
    path.join(options.dir, 'snapshot-controller.log'),
  );
}
