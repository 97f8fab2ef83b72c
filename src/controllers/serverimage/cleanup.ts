// What Error and deletion both clean up: stop the transfer (its upload session is
// cancelled), delete the snapshot, the export and its token, and, when asked, the pushed images.
import { deleteReferrer, type RegistryClient } from '../../registry/index.js';
import { describeClientError } from '../../kube/client-error.js';
import type { Deps } from './deps.js';
import type { Scope } from './scope.js';
import { UPLOAD_SESSION_ANNOTATION } from '../../api/metadata-keys.js';

/**
 * Removes everything made for this ServerImage: transfer, snapshot, export, and the
 * recorded upload session (one an operator killed mid-upload left, or whose cancel failed
 * while the registry was down). Returns why that session could not be cancelled, if so:
 * it stays recorded, and the caller tries again later.
 */
export async function removeChildren(
  scope: Scope,
  deps: Deps,
  keepSnapshot = false,
  /** Gets what was there and is now removed, for a message that says only that. */
  removed: string[] = [],
): Promise<string | undefined> {
  await deps.transfers.cancel(scope.key);
  removed.push(...(await deps.children.delete(scope.object, keepSnapshot)));
  const staleSession = scope.object.metadata.annotations?.[UPLOAD_SESSION_ANNOTATION];
  if (!staleSession) return undefined;
  try {
    await withRegistry(scope, deps, (registry) => registry.cancelUploadSession(staleSession));
  } catch (err) {
    const why = describeClientError(err);
    scope.log.warn({ error: why }, 'could not cancel a recorded upload session; will try again');
    return why;
  }
  await deps.forgetUploadSession(scope.key);
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
