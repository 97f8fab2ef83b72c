// What a running transfer Pod's progress puts on its ServerImage, beside the reconcile's one
// status write: the byte progress, and the open upload session's Location (so that a
// successor cancels it). Each is its own small patch of one field, so none overwrites what
// the reconciler wrote.
import { describeClientError } from '../../kube/client-error.js';
import {
  type CustomObjectsApi,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import { SERVERIMAGE_OWNER_KIND, SERVERIMAGE_RESOURCE } from '../../api/kinds.js';
import { FIELD_MANAGER, UPLOAD_SESSION_ANNOTATION } from '../../api/metadata-keys.js';
import { type Logger, patchStatus, splitKey } from '../../kube/index.js';

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
    ).catch((err: unknown) =>
      this.logger.warn({ serverimage: key, error: describeClientError(err) }, 'progress not written'),
    );
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
