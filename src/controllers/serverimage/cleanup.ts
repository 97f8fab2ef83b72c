// What Error and deletion both clean up: delete the transfer Pods (each cancels its upload
// session on SIGTERM) and wait until they are gone; delete the snapshot, the export and its
// token, and, when asked, the pushed images.
import { deleteReferrer, type RegistryClient } from '../../registry/index.js';
import { describeClientError } from '../../kube/client-error.js';
import type { Deps } from './deps.js';
import type { Scope } from './scope.js';
import { UPLOAD_SESSION_ANNOTATION } from '../../api/metadata-keys.js';

/** What removeChildren could not finish yet: the caller tries again later. */
export interface LeftBehind {
  /** Transfer Pods still stopping (each cancels its upload session on SIGTERM). */
  pods: string[];
  /** Why the recorded upload session could not be cancelled. */
  session?: string;
}

/**
 * Removes everything made for this ServerImage: transfer Pods, snapshot, export, and the
 * recorded upload session (one a Pod killed mid-upload left, or whose cancel failed while
 * the registry was down). The session is cancelled only once the Pods are gone, since a
 * Pod still stopping may be cancelling it itself. Returns what is left, if anything.
 */
export async function removeChildren(
  scope: Scope,
  deps: Deps,
  keepSnapshot = false,
  /** Gets what was there and is now removed, for a message that says only that. */
  removed: string[] = [],
): Promise<LeftBehind | undefined> {
  deps.progress.stop(scope.key);
  const pods = await deps.transferPods.deleteAll(scope.object);
  removed.push(...(await deps.children.delete(scope.object, keepSnapshot)));
  // The throw-away VMI of a verification (its owner reference would take it too, later).
  if (deps.verification?.get(scope.object) && (await deps.verification.delete(scope.object)))
    removed.push('the verification VirtualMachineInstance');
  if (pods.length > 0) {
    return { pods: pods.map((p) => p.metadata?.name ?? '') };
  }
  deps.slots.release(scope.key);
  const staleSession = scope.object.metadata.annotations?.[UPLOAD_SESSION_ANNOTATION];
  if (!staleSession) return undefined;
  try {
    await withRegistry(scope, deps, (registry) => registry.cancelUploadSession(staleSession));
  } catch (err) {
    const why = describeClientError(err);
    scope.log.warn({ error: why }, 'could not cancel a recorded upload session; will try again');
    return { pods: [], session: why };
  }
  await deps.recordUploadSession(scope.key, undefined);
  removed.push('the open upload session');
  scope.log.info({}, 'recorded upload session cancelled');
  return undefined;
}

/**
 * Deletes the pushed manifests from the registry. Returns the ones that could not be
 * deleted, with why (e.g. the registry does not allow deletes).
 */
export async function deletePushedImages(
  scope: Scope,
  deps: Deps,
  /** Gets the references deleted. */
  removed: string[] = [],
): Promise<string[]> {
  const images = scope.status.images ?? [];
  if (images.length === 0) return [];
  const failures: string[] = [];
  const artifact = scope.status.vmArtifact;
  await withRegistry(scope, deps, async (registry) => {
    // The VM artifact first (and its entry in the referrers tag): it describes the images.
    if (artifact) {
      try {
        await deleteReferrer(registry, images[0]!.digest, artifact.digest);
        removed.push(artifact.reference);
      } catch (err) {
        failures.push(`${artifact.reference}: ${describeClientError(err)}`);
      }
    }
    for (const image of images) {
      try {
        await registry.deleteManifest(image.digest);
        removed.push(image.reference);
      } catch (err) {
        const e = err as { reason?: string; status?: number; message?: string };
        if (e.status === 404 || e.reason === 'RegistryNotFound') continue;
        failures.push(`${image.reference}: ${describeClientError(err)}`);
      }
    }
  }).catch((err: unknown) => failures.push(`registry not reachable: ${describeClientError(err)}`));
  return failures;
}

async function withRegistry(
  scope: Scope,
  deps: Deps,
  use: (registry: RegistryClient) => Promise<void>,
): Promise<void> {
  const registry = await deps.registryFor(scope.object);
  try {
    await use(registry);
  } finally {
    await registry.close();
  }
}
