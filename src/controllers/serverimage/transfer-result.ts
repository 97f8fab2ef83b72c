// What a transfer Pod's result (its termination message, src/transfer/result.ts) puts on
// the ServerImage: each pushed volume in status.images (boot volume first), counted once in
// the operator's metrics (bytes moved, seconds per volume), also the volumes pushed
// before a failure, so that the next attempt does not push them again.
import type { TransferRequest } from '../../transfer/request.js';
import type { PushedVolume, TransferResult } from '../../transfer/result.js';
import type { Scope } from './scope.js';
import type { SelectedVolume } from './volume-selection.js';

type ImageStatus = NonNullable<Scope['status']['images']>[number];

export interface PushedMetrics {
  pushed(bytes: number, seconds: number): void;
}

/** The status entry of a pushed volume; its tag from the request the Pod ran. */
export function imageStatusOf(repository: string, tag: string, volume: PushedVolume): ImageStatus {
  return {
    volume: volume.volume,
    reference: `${repository}:${tag}`,
    digest: volume.digest,
    size: volume.layerSize ?? volume.size,
    diskSize: volume.size,
    diskFormat: volume.diskFormat ?? 'raw',
    ...(volume.chunked ? { chunked: volume.chunked } : {}),
  };
}

/**
 * Adds the result's volumes to status.images, in the order of `selected`; returns the
 * volumes that were new (already recorded ones are neither changed nor counted again).
 */
export function recordPushedVolumes(
  scope: Scope,
  selected: SelectedVolume[],
  request: TransferRequest | undefined,
  result: TransferResult | undefined,
  metrics?: PushedMetrics,
): string[] {
  if (!result || !request) return [];
  const images = [...(scope.status.images ?? [])];
  const known = new Set(images.map((i) => i.volume));
  const added: string[] = [];
  for (const volume of result.volumes) {
    const tag = request.volumes.find((v) => v.volume === volume.volume)?.tag;
    if (!tag || known.has(volume.volume)) continue;
    images.push(imageStatusOf(request.repository, tag, volume));
    known.add(volume.volume);
    added.push(volume.volume);
    metrics?.pushed(volume.size, volume.seconds ?? 0);
  }
  if (added.length === 0) return added;
  const order = (name: string) => {
    const i = selected.findIndex((v) => v.name === name);
    return i < 0 ? selected.length : i;
  };
  scope.status.images = images.sort((a, b) => order(a.volume) - order(b.volume));
  return added;
}
