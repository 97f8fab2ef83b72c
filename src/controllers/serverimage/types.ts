// The ServerImage as the reconciler sees it: our zod types plus the object metadata
// the API server fills in.
import type { KubernetesObject, V1ObjectMeta } from '@kubernetes/client-node';
import type { ServerImageSpec, ServerImageStatus } from '../../api/serverimage.js';
import { GROUP, VERSION } from '../../api/names.js';
import { SERVERIMAGE_PLURAL } from '../../api/crd.js';

export interface ServerImageObject extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec: ServerImageSpec;
  status?: ServerImageStatus;
}

export const SERVERIMAGE_RESOURCE = {
  group: GROUP,
  version: VERSION,
  plural: SERVERIMAGE_PLURAL,
  kind: 'ServerImage',
};

export const SERVERIMAGE_OWNER_KIND = { apiVersion: `${GROUP}/${VERSION}`, kind: 'ServerImage' };

/** Runs the deletion policy before the object goes. */
export const FINALIZER = 'serverimage.io/finalizer';

/**
 * Annotation holding the Location of the upload session in progress, so that an
 * operator restarted after a crash cancels it instead of leaving it open in the registry.
 */
export const UPLOAD_SESSION_ANNOTATION = 'serverimage.io/upload-session';

/** Label on every object we make, with the ServerImage's name: for people and for listing. */
export const SERVERIMAGE_LABEL = 'serverimage.io/serverimage';

export const toDate = (t: Date | string | undefined): Date | undefined =>
  t === undefined ? undefined : new Date(t);

/** The tag of the boot volume: spec.registry.tag, else metadata.name. */
export const baseTag = (si: ServerImageObject): string => si.spec.registry.tag || si.metadata.name;
