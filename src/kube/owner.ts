// Owner references: the link from a child (VirtualMachineSnapshot, VirtualMachineExport)
// to the ServerImage that made it, and the way back from a child's event to the key of
// the owner to reconcile (controller-runtime's EnqueueRequestForOwner with OnlyControllerOwner).
import type { KubernetesObject, V1OwnerReference } from '@kubernetes/client-node';
import { keyOf } from './keys.js';
import { groupOf } from './resource.js';

/** A controller owner reference to `owner`: controller and blockOwnerDeletion set. */
export function controllerOwnerReference(owner: KubernetesObject): V1OwnerReference {
  const { apiVersion, kind } = owner;
  const name = owner.metadata?.name;
  const uid = owner.metadata?.uid;
  if (!apiVersion || !kind || !name || !uid)
    throw new Error('an owner needs apiVersion, kind, metadata.name and metadata.uid');
  return { apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true };
}

/** The child's controller reference, if any (at most one may have controller: true). */
export function controllerOf(child: KubernetesObject): V1OwnerReference | undefined {
  return child.metadata?.ownerReferences?.find((ref) => ref.controller === true);
}

export interface OwnerKind {
  /** Any version of the group matches (versions of one kind share UIDs). */
  apiVersion: string;
  kind: string;
}

/**
 * The work-queue key of the child's controller when it is of `ownerKind`, else
 * undefined. Owners are in the child's namespace: cross-namespace owners are not allowed.
 */
export function ownerKeyOf(child: KubernetesObject, ownerKind: OwnerKind): string | undefined {
  const ref = controllerOf(child);
  if (!ref || ref.kind !== ownerKind.kind) return undefined;
  if (groupOf(ref.apiVersion) !== groupOf(ownerKind.apiVersion)) return undefined;
  return keyOf({ namespace: child.metadata?.namespace, name: ref.name });
}

/** True when `child`'s controller is exactly `owner` (same UID, not just the same name). */
export function isControlledBy(child: KubernetesObject, owner: KubernetesObject): boolean {
  const uid = owner.metadata?.uid;
  return uid !== undefined && controllerOf(child)?.uid === uid;
}

/**
 * Informer handlers that enqueue the owner's key for every add/update/delete of a
 * child, e.g. `vmSnapshots.addHandlers(enqueueOwner(serverImageKind, k => controller.enqueue(k)))`.
 */
export function enqueueOwner<T extends KubernetesObject>(
  ownerKind: OwnerKind,
  enqueue: (key: string) => void,
) {
  const push = (obj: T) => {
    const key = ownerKeyOf(obj, ownerKind);
    if (key) enqueue(key);
  };
  return {
    onAdd: push,
    onUpdate: (oldObj: T, newObj: T) => {
      push(oldObj);
      push(newObj);
    },
    onDelete: push,
  };
}

/** Informer handlers that enqueue the object's own key. */
export function enqueueSelf<T extends KubernetesObject>(enqueue: (key: string) => void) {
  const push = (obj: T) =>
    enqueue(keyOf({ namespace: obj.metadata?.namespace, name: obj.metadata?.name ?? '' }));
  return { onAdd: push, onUpdate: (_old: T, newObj: T) => push(newObj), onDelete: push };
}
