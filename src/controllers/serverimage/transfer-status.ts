// What a running transfer writes on its ServerImage, beside the reconcile's one status
// write: the byte progress, each pushed volume in status.images, and the open upload
// session's Location (so a restarted operator cancels it). Each is its own small patch of
// one field, so none overwrites what the reconciler or another volume wrote.
import {
  type CustomObjectsApi,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import { SERVERIMAGE_OWNER_KIND, SERVERIMAGE_RESOURCE } from '../../api/kinds.js';
import { FIELD_MANAGER, UPLOAD_SESSION_ANNOTATION } from '../../api/metadata-keys.js';
import type { PushedDiskImage } from '../../export/index.js';
import { type Logger, patchStatus, splitKey } from '../../kube/index.js';
import type { ServerImageObject } from './types.js';

export class TransferStatusWriter {
  constructor(
    private readonly custom: CustomObjectsApi,
    private readonly objects: KubernetesObjectApi,
    private readonly logger: Logger,
  ) {}

  /** status.progress; best effort (the next tick writes it again), so a failure is logged only. */
  writeProgress(key: string, bytesDone: number, bytesTotal: number): void {
    patchStatus(
      this.custom,
      statusTarget(key),
      { progress: { bytesDone, bytesTotal } },
      { fieldManager: FIELD_MANAGER },
    ).catch((err: unknown) => this.logger.warn({ serverimage: key, err }, 'progress not written'));
  }

  /** Adds a pushed volume to status.images (read fresh, so no other volume's entry is lost). */
  async recordImage(key: string, volume: string, image: PushedDiskImage): Promise<void> {
    const { namespace, name } = splitKey(key);
    const current = (await this.custom.getNamespacedCustomObject({
      ...SERVERIMAGE_RESOURCE,
      namespace: namespace!,
      name,
    })) as ServerImageObject;
    const repository = current.spec.registry.repository;
    const images = (current.status?.images ?? []).filter((i) => i.volume !== volume);
    images.push({
      volume,
      reference: `${repository}:${image.tag}`,
      digest: image.digest,
      size: image.layerSize,
      diskSize: image.size,
      diskFormat: image.diskFormat,
      ...(image.chunked ? { chunked: image.chunked } : {}),
    });
    await patchStatus(this.custom, statusTarget(key), { images }, { fieldManager: FIELD_MANAGER });
  }

  /** Keeps the open upload session's Location in an annotation (undefined removes it). */
  async recordUploadSession(key: string, location: string | undefined): Promise<void> {
    const { namespace, name } = splitKey(key);
    await this.objects.patch(
      {
        apiVersion: SERVERIMAGE_OWNER_KIND.apiVersion,
        kind: SERVERIMAGE_OWNER_KIND.kind,
        metadata: { namespace, name, annotations: { [UPLOAD_SESSION_ANNOTATION]: location ?? null } },
      } as KubernetesObject,
      undefined,
      undefined,
      FIELD_MANAGER,
      undefined,
      PatchStrategy.MergePatch,
    );
  }
}

/** Where a ServerImage's status is written, from its work-queue key. */
function statusTarget(key: string) {
  const { namespace, name } = splitKey(key);
  return { resource: SERVERIMAGE_RESOURCE, namespace: namespace!, name };
}
