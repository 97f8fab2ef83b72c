// What one transfer Pod is asked to do (src/transfer/request.ts), from the ServerImage, its
// export and what earlier attempts left: the volumes not pushed yet, each with its raw URL
// and tag; the image's identity (the same on every attempt, so a retried layer is byte
// for byte the same); the layers a failed attempt completed; the upload session to cancel.
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { UPLOAD_SESSION_ANNOTATION } from '../../api/metadata-keys.js';
import type { ExportView } from '../../kubevirt/export.js';
import { instancetypeHints } from '../../kubevirt/vm-definition.js';
import { decodeRequest, REQUEST_ENV, type TransferRequestInput } from '../../transfer/request.js';
import type { TransferResult } from '../../transfer/result.js';
import type { Deps } from './deps.js';
import { previousChunkedBackups } from './previous-backups.js';
import type { Scope } from './scope.js';
import { baseTag, toDate } from './types.js';
import { volumeTag, type SelectedVolume } from './volume-selection.js';

type UploadedLayers = NonNullable<TransferRequestInput['uploadedLayers']>;

/** The request a transfer Pod was made with (its environment); undefined when it is not one. */
export function requestOf(pod: V1Pod): ReturnType<typeof decodeRequest> | undefined {
  const value = pod.spec?.containers[0]?.env?.find((e) => e.name === REQUEST_ENV)?.value;
  try {
    return decodeRequest(value);
  } catch {
    return undefined;
  }
}

/**
 * The layers a failed attempt leaves for the next: those its own request carried (it may
 * have ended before it got to them) and the one it completed, by volume.
 */
export function layersLeftBy(pod: V1Pod | undefined, result: TransferResult | undefined): UploadedLayers {
  const layers: UploadedLayers = { ...(pod ? requestOf(pod)?.uploadedLayers : undefined) };
  if (result?.layer) {
    const { volume, ...layer } = result.layer;
    layers[volume] = layer;
  }
  return layers;
}

/** The request, or why none can be made (the export lacks a volume or its CA). */
export function transferRequest(
  scope: Scope,
  deps: Deps,
  volumes: SelectedVolume[],
  exported: ExportView,
  uploadedLayers: UploadedLayers,
): TransferRequestInput | string {
  const si = scope.object;
  const pushed = new Set((scope.status.images ?? []).map((i) => i.volume));
  const tag = baseTag(si);
  const planned: TransferRequestInput['volumes'] = [];
  for (const [index, volume] of volumes.entries()) {
    if (pushed.has(volume.name)) continue;
    // KubeVirt names an exported snapshot volume after the PVC it was taken from.
    const url = exported.rawUrls.get(volume.claimName);
    if (!url)
      return `VirtualMachineExport ${exported.name} has no raw link for volume ${volume.name} (PVC ${volume.claimName})`;
    planned.push({ volume: volume.name, tag: volumeTag(tag, index, volume.name), url });
  }
  if (!exported.caPem) return `VirtualMachineExport ${exported.name} has no CA certificate in its links`;
  const layers = Object.fromEntries(
    Object.entries(uploadedLayers).filter(([volume]) => planned.some((p) => p.volume === volume)),
  );
  const staleUploadSession = si.metadata.annotations?.[UPLOAD_SESSION_ANNOTATION];
  const labels = instancetypeHints(vmSpecOf(deps.vms.get(si.spec.serverRef.name, si.metadata.namespace)));
  return {
    version: 1,
    repository: si.spec.registry.repository,
    insecure: si.spec.registry.insecure ?? false,
    exportCaPem: exported.caPem,
    volumes: planned,
    // Objects stored before spec.format existed get its defaults from the API server.
    format: si.spec.format ?? { compression: 'gzip', disk: 'raw', layout: 'containerDisk' },
    imageName: si.spec.imageName ?? si.metadata.name,
    ...(si.spec.metadata ? { metadata: si.spec.metadata } : {}),
    sourceVm: {
      namespace: si.metadata.namespace,
      name: si.spec.serverRef.name,
      uid: scope.status.server?.uid ?? '',
    },
    ...(labels && Object.keys(labels).length > 0 ? { configLabels: labels } : {}),
    created: (toDate(scope.status.startTime) ?? scope.now).toISOString(),
    ...(si.spec.format?.layout === 'chunked'
      ? { previousBackups: previousChunkedBackups(si, deps.serverImages) }
      : {}),
    ...(staleUploadSession ? { staleUploadSession } : {}),
    ...(Object.keys(layers).length > 0 ? { uploadedLayers: layers } : {}),
    progressIntervalMs: Math.max(1, Math.round(deps.config.progressInterval)),
  };
}

const vmSpecOf = (vm: KubernetesObject | undefined): Record<string, unknown> =>
  (vm as { spec?: Record<string, unknown> } | undefined)?.spec ?? {};
