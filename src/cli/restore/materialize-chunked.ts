// Restore of an incremental (chunked) backup: CDI imports a containerDisk image, not
// chunks, so each chunked volume is first materialized in its own repository as a
// containerDisk image (the chunks reassembled and checked; the VM is not read again),
// and the restore then points at those images. Volumes that are containerDisks already
// are left as they are. The new images get the VM definition attached too, so they are
// restorable by reference as well.
import { isChunkedManifest, materializeChunkedDisk } from '../../export/chunked/index.js';
import { pushVmArtifact, type VmArtifactDocument } from '../../export/vm-artifact.js';
import { RegistryClient } from '../../registry/index.js';
import { CliError } from '../exit-codes.js';
import type { RegistryAccess } from './restore-source.js';
import { splitReference } from './restore-source.js';

export interface MaterializedVolume {
  volume: string;
  /** The chunked backup. */
  from: string;
  /** repository:tag of the containerDisk image. */
  to: string;
}

/** The tag each volume's image gets: TAG for the first volume, TAG-<volume> for the others. */
export function materializeTagFor(base: string, index: number, volume: string): string {
  return index === 0 ? base : `${base}-${volume}`;
}

/**
 * Returns the document to restore from (references swapped to the materialized images)
 * and what was materialized; the document as given when no volume is chunked.
 */
export async function materializeChunkedVolumes(
  document: VmArtifactDocument,
  access: RegistryAccess,
  materializeTag: string | undefined,
  log: (line: string) => void,
): Promise<{ document: VmArtifactDocument; materialized: MaterializedVolume[] }> {
  const volumes: VmArtifactDocument['volumes'] = [];
  const materialized: MaterializedVolume[] = [];
  for (const [index, volume] of document.volumes.entries()) {
    const { repository, reference } = splitReference(volume.reference);
    const client = new RegistryClient({ repository, ...access, retry: { attempts: 3 } });
    try {
      if (!isChunkedManifest((await client.getManifest(reference)).body)) {
        volumes.push(volume);
        continue;
      }
      const sourceTag = splitReference(volume.tagReference).reference;
      const tag = materializeTagFor(materializeTag ?? `${sourceTag}-disk`, index, volume.volume);
      log(`Materializing ${volume.volume} (${volume.tagReference}, incremental) as ${repository}:${tag}\n`);
      const image = await materializeChunkedDisk({ registry: client, reference, tag });
      volumes.push({
        ...volume,
        reference: image.reference,
        tagReference: `${repository}:${tag}`,
        digest: image.digest,
        diskSize: image.size,
        diskFormat: image.diskFormat,
      });
      materialized.push({ volume: volume.volume, from: volume.tagReference, to: `${repository}:${tag}` });
    } catch (err) {
      throw new CliError(
        `materializing ${volume.volume} from ${volume.tagReference}: ${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      await client.close();
    }
  }
  if (materialized.length === 0) return { document, materialized };
  const result = { ...document, volumes };
  const boot = volumes[0]!;
  const bootClient = new RegistryClient({ repository: splitReference(boot.reference).repository, ...access });
  try {
    await pushVmArtifact(bootClient, result);
  } finally {
    await bootClient.close();
  }
  return { document: result, materialized };
}
