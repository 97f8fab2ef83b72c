// The API calls the commands make: ServerImages through the custom objects API, their
// Events through core/v1 (what kubectl describe reads for any object).
import { CoreV1Api, CustomObjectsApi, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { ServerImage } from '../api/serverimage.js';
import type { ServerImageRequest } from './server-image-request.js';
import { SERVERIMAGE_KIND, SERVERIMAGE_RESOURCE } from '../api/kinds.js';

/** A ServerImage as read from the API server: its metadata has what the server set. */
export type StoredServerImage = ServerImage & {
  metadata: ServerImage['metadata'] & {
    namespace: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    generation?: number;
  };
};

export interface ServerImageList {
  apiVersion: string;
  kind: string;
  metadata?: { resourceVersion?: string };
  items: StoredServerImage[];
}

const { group, version, plural } = SERVERIMAGE_RESOURCE;
const RESOURCE = { group, version, plural };

export class ServerImageClient {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  constructor(readonly kubeConfig: KubeConfig) {
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  /** The collection path a watch of one namespace reads. */
  static collectionPath(namespace: string): string {
    return `/apis/${group}/${version}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
  }

  async create(body: ServerImageRequest): Promise<StoredServerImage> {
    return (await this.custom.createNamespacedCustomObject({
      ...RESOURCE,
      namespace: body.metadata.namespace,
      body,
    })) as StoredServerImage;
  }

  async get(namespace: string, name: string): Promise<StoredServerImage> {
    return (await this.custom.getNamespacedCustomObject({
      ...RESOURCE,
      namespace,
      name,
    })) as StoredServerImage;
  }

  async list(namespace: string | undefined): Promise<ServerImageList> {
    const list = namespace
      ? await this.custom.listNamespacedCustomObject({ ...RESOURCE, namespace })
      : await this.custom.listCustomObjectForAllNamespaces({
          group,
          version,
          resourcePlural: plural,
        });
    return list as ServerImageList;
  }

  async delete(namespace: string, name: string): Promise<void> {
    await this.custom.deleteNamespacedCustomObject({ ...RESOURCE, namespace, name });
  }

  /** Events about this object (this uid, when known: not those of an earlier one of the same name). */
  async events(image: StoredServerImage): Promise<CoreV1Event[]> {
    const { name, namespace, uid } = image.metadata;
    const list = await this.core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.name=${name},involvedObject.kind=${SERVERIMAGE_KIND}`,
    });
    return list.items.filter((e) => !uid || !e.involvedObject.uid || e.involvedObject.uid === uid);
  }
}
