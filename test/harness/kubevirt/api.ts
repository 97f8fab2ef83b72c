// The resources the simulator reads and writes, and one small client over them.
// Objects are loose JSON (KubeVirt's types are not ours to mirror in full); the
// helpers below name the few fields the simulator reads.
import * as k8s from '@kubernetes/client-node';

export interface Resource {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export const VM: Resource = {
  group: 'kubevirt.io',
  version: 'v1',
  plural: 'virtualmachines',
  kind: 'VirtualMachine',
};
export const VM_SNAPSHOT: Resource = {
  group: 'snapshot.kubevirt.io',
  version: 'v1beta1',
  plural: 'virtualmachinesnapshots',
  kind: 'VirtualMachineSnapshot',
};
export const VM_SNAPSHOT_CONTENT: Resource = {
  group: 'snapshot.kubevirt.io',
  version: 'v1beta1',
  plural: 'virtualmachinesnapshotcontents',
  kind: 'VirtualMachineSnapshotContent',
};
/** The storage version; objects created through v1beta1 are read and written here too. */
export const VM_EXPORT: Resource = {
  group: 'export.kubevirt.io',
  version: 'v1',
  plural: 'virtualmachineexports',
  kind: 'VirtualMachineExport',
};
export const DATA_VOLUME: Resource = {
  group: 'cdi.kubevirt.io',
  version: 'v1beta1',
  plural: 'datavolumes',
  kind: 'DataVolume',
};
export const VOLUME_SNAPSHOT: Resource = {
  group: 'snapshot.storage.k8s.io',
  version: 'v1',
  plural: 'volumesnapshots',
  kind: 'VolumeSnapshot',
};

export const apiVersionOf = (r: Resource): string => `${r.group}/${r.version}`;

/** A namespaced object as the simulator sees it: metadata plus loose spec/status. */
export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.V1ObjectMeta & { name: string; namespace: string; uid: string };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  status?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data?: any;
}

export const keyOf = (o: { metadata?: { namespace?: string; name?: string } }): string =>
  `${o.metadata?.namespace}/${o.metadata?.name}`;

export function isApiError(err: unknown, ...codes: number[]): boolean {
  return err instanceof k8s.ApiException && codes.includes(err.code);
}

/** Tolerates NotFound (deleting what is gone is done). */
export async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isApiError(err, 404)) return undefined;
    throw err;
  }
}

export function ownerReference(owner: Obj, resource: Resource): k8s.V1OwnerReference {
  return {
    apiVersion: apiVersionOf(resource),
    kind: resource.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export const ownedBy = (o: { metadata?: k8s.V1ObjectMeta }, uid: string): boolean =>
  (o.metadata?.ownerReferences ?? []).some((r) => r.uid === uid);

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
/**
 * Every write of the simulator asks the API server to refuse fields the schema does not
 * know, instead of dropping them: with KubeVirt's real CRDs, a field the simulator made up
 * (or misplaced) fails loudly rather than vanishing (and making every later compare differ).
 */
const STRICT = { fieldValidation: 'Strict' } as const;

/** Thin wrappers over the generated clients, in the shapes the controllers use. */
export class Client {
  readonly custom: k8s.CustomObjectsApi;
  readonly core: k8s.CoreV1Api;
  readonly storage: k8s.StorageV1Api;

  constructor(readonly kubeConfig: k8s.KubeConfig) {
    this.custom = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    this.core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.storage = kubeConfig.makeApiClient(k8s.StorageV1Api);
  }

  async create(r: Resource, namespace: string, body: object): Promise<Obj> {
    const full = { apiVersion: apiVersionOf(r), kind: r.kind, ...body };
    return (await this.custom.createNamespacedCustomObject({
      ...r,
      namespace,
      body: full,
      ...STRICT,
    })) as Obj;
  }

  async get(r: Resource, namespace: string, name: string): Promise<Obj | undefined> {
    return ignoreNotFound(this.custom.getNamespacedCustomObject({ ...r, namespace, name }) as Promise<Obj>);
  }

  async patch(r: Resource, namespace: string, name: string, body: object): Promise<Obj> {
    return (await this.custom.patchNamespacedCustomObject(
      { ...r, namespace, name, body, ...STRICT },
      mergePatch,
    )) as Obj;
  }

  async patchStatus(r: Resource, namespace: string, name: string, status: object): Promise<Obj> {
    return (await this.custom.patchNamespacedCustomObjectStatus(
      { ...r, namespace, name, body: { status }, ...STRICT },
      mergePatch,
    )) as Obj;
  }

  async delete(r: Resource, namespace: string, name: string): Promise<void> {
    await ignoreNotFound(this.custom.deleteNamespacedCustomObject({ ...r, namespace, name }));
  }

  async patchPvc(namespace: string, name: string, body: object): Promise<void> {
    await this.core.patchNamespacedPersistentVolumeClaim({ namespace, name, body, ...STRICT }, mergePatch);
  }
}
