// The earlier backups a chunked push looks its chunks up in: Active chunked ServerImages
// pushing to the same repository (the VM's own earlier backups first, then other VMs',
// e.g. clones of one golden image), newest first. Their manifests live in the registry;
// the ServerImages only say which digests to read.
import type { ObjectCache } from '../../kube/index.js';
import type { ServerImageObject } from './types.js';

/** At most this many earlier backups are read (each is one manifest GET). */
const MAX_PREVIOUS = 3;

export function previousChunkedBackups(
  si: ServerImageObject,
  serverImages: ObjectCache<ServerImageObject>,
): string[] {
  const repository = si.spec.registry.repository;
  const candidates = serverImages
    .list(si.metadata.namespace)
    .filter(
      (other) =>
        other.metadata.uid !== si.metadata.uid &&
        other.status?.phase === 'Active' &&
        other.spec.format?.layout === 'chunked' &&
        other.spec.registry.repository === repository,
    )
    .sort(
      (a, b) =>
        Number(b.spec.serverRef.name === si.spec.serverRef.name) -
          Number(a.spec.serverRef.name === si.spec.serverRef.name) ||
        (b.status?.completionTime ?? '').localeCompare(a.status?.completionTime ?? ''),
    )
    .slice(0, MAX_PREVIOUS);
  return candidates.flatMap((other) => (other.status?.images ?? []).map((image) => image.digest));
}
