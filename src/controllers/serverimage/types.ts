// The ServerImage as the reconciler sees it: our zod types plus the object metadata
// the API server fills in. Its names (kind, resource, finalizer, labels) are in src/api/.
import type { KubernetesObject, V1ObjectMeta } from '@kubernetes/client-node';
import type { ServerImageSpec, ServerImageStatus } from '../../api/serverimage.js';

export interface ServerImageObject extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec: ServerImageSpec;
  status?: ServerImageStatus;
}

export const toDate = (t: Date | string | undefined): Date | undefined =>
  t === undefined ? undefined : new Date(t);

/** The tag of the boot volume: spec.registry.tag, else metadata.name. */
export const baseTag = (si: ServerImageObject): string => si.spec.registry.tag || si.metadata.name;
