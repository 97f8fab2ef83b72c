// Creating and deleting what a ServerImage makes: its VirtualMachineSnapshot, its
// VirtualMachineExport and the export's token Secret. Every create tolerates "already
// exists" and every delete "not found", so a restarted operator can run any step again.
// Other failures say what was being done (ApiCallError), for the Ready condition.
import { randomBytes } from 'node:crypto';
import type { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { apiCall, controllerOwnerReference, isAlreadyExists, isNotFound } from '../../kube/index.js';
import { exportManifest } from '../../kubevirt/export.js';
import { EXPORT_GROUP, EXPORT_PLURAL, VIRTUAL_MACHINE_SNAPSHOT } from '../../kubevirt/groups.js';
import { snapshotManifest, type OwnerReference } from '../../kubevirt/snapshot.js';
import { childNames, type ChildNames } from './child-names.js';
import { type ServerImageObject } from './types.js';
import { SERVERIMAGE_LABEL } from '../../api/metadata-keys.js';

export class ChildObjects {
  constructor(
    private readonly custom: CustomObjectsApi,
    private readonly core: CoreV1Api,
    /** The served version of export.kubevirt.io, discovered at start-up. */
    private readonly exportVersion: string,
  ) {}

  names(si: ServerImageObject): ChildNames {
    return childNames(si.metadata.name, si.metadata.uid);
  }

  private owner(si: ServerImageObject): OwnerReference {
    return controllerOwnerReference(si) as OwnerReference;
  }

  private labels(si: ServerImageObject): Record<string, string> {
    return { [SERVERIMAGE_LABEL]: si.metadata.name.slice(0, 63) };
  }

  async createSnapshot(si: ServerImageObject): Promise<void> {
    const { namespace } = si.metadata;
    const body = snapshotManifest(
      namespace,
      this.names(si).snapshot,
      si.spec.serverRef.name,
      this.owner(si),
      this.labels(si),
    );
    await apiCall(
      `creating VirtualMachineSnapshot ${namespace}/${this.names(si).snapshot}`,
      () => this.custom.createNamespacedCustomObject({ ...VIRTUAL_MACHINE_SNAPSHOT, namespace, body }),
      isAlreadyExists,
    );
  }

  /** The export's token: made by us, kept in a Secret owned by the ServerImage. */
  async exportToken(si: ServerImageObject): Promise<string> {
    const { namespace } = si.metadata;
    const name = this.names(si).exportToken;
    const secret = await apiCall(
      `reading Secret ${namespace}/${name}`,
      () => this.core.readNamespacedSecret({ namespace, name }),
      isNotFound,
    );
    if (secret) return Buffer.from(secret.data?.token ?? '', 'base64').toString();
    const token = randomBytes(32).toString('base64url');
    const created = await apiCall(
      `creating Secret ${namespace}/${name}`,
      () =>
        this.core.createNamespacedSecret({
          namespace,
          body: {
            metadata: { name, namespace, labels: this.labels(si), ownerReferences: [this.owner(si)] },
            type: 'Opaque',
            stringData: { token },
          },
        }),
      isAlreadyExists,
    );
    return created ? token : this.exportToken(si);
  }

  async createExport(si: ServerImageObject): Promise<void> {
    const { namespace } = si.metadata;
    const names = this.names(si);
    await this.exportToken(si);
    const body = exportManifest(
      this.exportVersion,
      namespace,
      names.export,
      names.snapshot,
      this.owner(si),
      this.labels(si),
      names.exportToken,
    );
    await apiCall(
      `creating VirtualMachineExport ${namespace}/${names.export}`,
      () =>
        this.custom.createNamespacedCustomObject({
          group: EXPORT_GROUP,
          version: this.exportVersion,
          plural: EXPORT_PLURAL,
          namespace,
          body,
        }),
      isAlreadyExists,
    );
  }

  /** Removes the export and its token; the snapshot too unless `keepSnapshot`. */
  /** Deletes the children; returns what was there to delete ("VirtualMachineExport ns/x", ...). */
  async delete(si: ServerImageObject, keepSnapshot = false): Promise<string[]> {
    const { namespace } = si.metadata;
    const names = this.names(si);
    // apiCall resolves undefined for an object that was not there (404 tolerated).
    const remove = async (what: string, call: () => Promise<unknown>) =>
      (await apiCall(`deleting ${what}`, call, isNotFound)) === undefined ? undefined : what;
    const deletions: Promise<string | undefined>[] = [
      remove(`VirtualMachineExport ${namespace}/${names.export}`, () =>
        this.custom.deleteNamespacedCustomObject({
          group: EXPORT_GROUP,
          version: this.exportVersion,
          plural: EXPORT_PLURAL,
          namespace,
          name: names.export,
        }),
      ),
      remove(`Secret ${namespace}/${names.exportToken}`, () =>
        this.core.deleteNamespacedSecret({ namespace, name: names.exportToken }),
      ),
    ];
    if (!keepSnapshot) {
      deletions.push(
        remove(`VirtualMachineSnapshot ${namespace}/${names.snapshot}`, () =>
          this.custom.deleteNamespacedCustomObject({
            ...VIRTUAL_MACHINE_SNAPSHOT,
            namespace,
            name: names.snapshot,
          }),
        ),
      );
    }
    return (await Promise.all(deletions)).filter((what): what is string => what !== undefined);
  }
}
