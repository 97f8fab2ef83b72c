// The transfer itself: each volume of the request, in order, from the export through the
// existing data path (pushDiskImage, or pushChunkedExport for layout chunked) into the
// registry, telling the caller what happens as it happens. No Kubernetes in here: the
// Pod's main (transfer.ts) turns these hooks into its progress endpoint and its result.
import { pushChunkedExport } from '../export/chunked/index.js';
import { pushDiskImage, type PushedDiskImage, type UploadedLayer } from '../export/index.js';
import type { Logger } from '../logger.js';
import type { RegistryClient } from '../registry/index.js';
import type { TransferRequest } from './request.js';

export interface TransferHooks {
  onProgress(volume: string, bytesDone: number, bytesTotal: number): void;
  /** The layer's blob is complete in the registry (before config and manifest). */
  onLayerUploaded(volume: string, layer: UploadedLayer): void;
  /** The open upload session's Location; undefined once it is closed for sure. */
  onUploadSession(location: string | undefined): void;
  onVolumePushed(volume: string, image: PushedDiskImage, seconds: number): void;
}

export async function runTransfer(options: {
  request: TransferRequest;
  registry: RegistryClient;
  exportToken: string;
  hooks: TransferHooks;
  signal: AbortSignal;
  log: Logger;
}): Promise<void> {
  const { request, registry, hooks, signal, log } = options;
  if (request.staleUploadSession) {
    // Strict: a session the registry has not confirmed gone fails this attempt (retried)
    // rather than staying open for good.
    hooks.onUploadSession(request.staleUploadSession);
    await registry.cancelUploadSession(request.staleUploadSession);
    log.info({ registry: registry.host }, 'stale upload session cancelled');
    hooks.onUploadSession(undefined);
  }
  const created = new Date(request.created);
  for (const { volume, tag, url } of request.volumes) {
    signal.throwIfAborted();
    const started = performance.now();
    const source = {
      url,
      caPem: request.exportCaPem,
      token: options.exportToken,
      signal,
      onResume: ({ offset, attempt, error }: { offset: number; attempt: number; error: Error }) =>
        log.warn(
          { volume, offset, attempt, error: error.message },
          'export stream dropped; resuming at offset',
        ),
    };
    const onProgress = ({ bytesDone, bytesTotal }: { bytesDone: number; bytesTotal: number }) =>
      hooks.onProgress(volume, bytesDone, bytesTotal);
    const target = {
      source,
      registry,
      tag,
      imageName: request.imageName,
      sourceVm: request.sourceVm,
      volume,
      metadata: request.metadata,
      configLabels: request.configLabels,
      created,
      signal,
      progressIntervalMs: request.progressIntervalMs,
      onProgress,
    };
    let image: PushedDiskImage;
    if (request.format.layout === 'chunked') {
      image = await pushChunkedExport({ ...target, previous: request.previousBackups ?? [] });
      log.info({ volume, ...image.chunked }, 'chunked backup pushed');
    } else {
      const known = request.uploadedLayers?.[volume];
      let uploaded: UploadedLayer | undefined;
      image = await pushDiskImage({
        ...target,
        compression: request.format.compression,
        diskFormat: request.format.disk,
        uploadedLayer: known,
        onLayerUploaded: (layer) => {
          uploaded = layer;
          hooks.onLayerUploaded(volume, layer);
        },
        onUploadStarted: (location) => hooks.onUploadSession(location),
        onUploadClosed: () => hooks.onUploadSession(undefined),
      });
      if (known && !uploaded)
        log.info(
          { volume, layer: known.digest },
          'layer already in the registry from an earlier attempt; not sent again',
        );
    }
    const seconds = (performance.now() - started) / 1000;
    log.info({ volume, digest: image.digest, size: image.size, seconds }, 'volume pushed');
    hooks.onVolumePushed(volume, image, seconds);
  }
}
