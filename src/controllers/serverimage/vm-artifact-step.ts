// The last step of Saving, so an image can be restored from its reference alone: once
// every volume is pushed, push the VM's definition
// (from the snapshot content) and the volume -> image map as an artifact attached to the
// boot image, and record its digest in status. The artifact's bytes are the same on every
// attempt, so a restart or a retry pushes the same digest again.
import { ApiCallError, isNotFound } from '../../kube/index.js';
import { viewSnapshot } from '../../kubevirt/snapshot.js';
import { vmDefinitionFromContent } from '../../kubevirt/vm-definition.js';
import { pushVmArtifact, type VmArtifactDocument } from '../../export/vm-artifact.js';
import type { ReconcileResult } from '../../kube/index.js';
import type { Deps } from './deps.js';
import { ConditionType, Reason } from '../../api/serverimage-conditions.js';
import { clearRetry } from './retry-budget.js';
import type { Scope } from './scope.js';
import { describeFailure, retryOrGiveUp } from './retry-or-give-up.js';

const STEP = ConditionType.Pushed;

/** Done (true), or the phase stops here for now. */
export async function vmArtifactStep(
  scope: Scope,
  deps: Deps,
): Promise<true | { stop: ReconcileResult | void }> {
  if (scope.status.vmArtifact) return true;
  const si = scope.object;
  try {
    const document = await artifactDocument(scope, deps);
    const registry = await deps.registryFor(si);
    try {
      scope.status.vmArtifact = await pushVmArtifact(registry, document);
    } finally {
      await registry.close();
    }
    clearRetry(scope, STEP);
    scope.log.info(
      { artifact: scope.status.vmArtifact.reference },
      'VM definition pushed beside the boot image',
    );
    return true;
  } catch (err) {
    const failure = describeFailure(err);
    const attempt = retryOrGiveUp(scope, STEP, failure, {
      deadlineMs: deps.config.registryRetryTimeout,
      prefix: 'pushing the VM definition: ',
      countAttempts: false,
    });
    if (!attempt) return { stop: undefined };
    scope.markWaiting(STEP, Reason.Retrying, `pushing the VM definition: ${failure.message}`);
    return { stop: { requeueAfter: attempt.delayMs } };
  }
}

async function artifactDocument(scope: Scope, deps: Deps): Promise<VmArtifactDocument> {
  const si = scope.object;
  const { namespace } = si.metadata;
  const snapshotName = deps.children.names(si).snapshot;
  const snapshot = deps.snapshots.get(snapshotName, namespace);
  const contentName = snapshot ? viewSnapshot(snapshot).contentName : undefined;
  if (!contentName) {
    throw Object.assign(new Error(`VirtualMachineSnapshot ${snapshotName} names no snapshot content`), {
      reason: Reason.SnapshotContentMissing,
      retryable: false,
    });
  }
  let content: unknown;
  try {
    content = await deps.readSnapshotContent(namespace, contentName);
  } catch (err) {
    const why = isNotFound(err) ? 'not found' : 'not readable';
    throw Object.assign(new ApiCallError(`VirtualMachineSnapshotContent ${contentName} ${why}`, err), {
      reason: Reason.SnapshotContentMissing,
      retryable: !isNotFound(err),
    });
  }
  const repository = si.spec.registry.repository;
  return {
    apiVersion: 'serverimage.io/v1alpha1',
    kind: 'VirtualMachineImage',
    source: { namespace, name: si.spec.serverRef.name },
    virtualMachine: vmDefinitionFromContent(content),
    volumes: (scope.status.images ?? []).map((image) => ({
      volume: image.volume,
      reference: `${repository}@${image.digest}`,
      tagReference: image.reference,
      digest: image.digest,
      ...(image.diskSize !== undefined ? { diskSize: image.diskSize } : {}),
      diskFormat: image.diskFormat,
    })),
  };
}
