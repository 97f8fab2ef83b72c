import {
  controllerOwnerReference,
  enqueueOwner,
  isControlledBy,
  ownerKeyOf,
} from '../../../src/kube/owner.js';

const owner = {
  apiVersion: 'serverimage.io/v1alpha1',
  kind: 'ServerImage',
  metadata: { name: 'img', namespace: 'prod', uid: 'uid-1' },
};
const serverImageKind = { apiVersion: 'serverimage.io/v1alpha1', kind: 'ServerImage' };

const child = (refs: object[]) => ({
  apiVersion: 'snapshot.kubevirt.io/v1beta1',
  kind: 'VirtualMachineSnapshot',
  metadata: { name: 'snap', namespace: 'prod', ownerReferences: refs as never },
});

describe('owner references', () => {
  test('builds a controller reference', () => {
    expect(controllerOwnerReference(owner)).toEqual({
      apiVersion: 'serverimage.io/v1alpha1',
      kind: 'ServerImage',
      name: 'img',
      uid: 'uid-1',
      controller: true,
      blockOwnerDeletion: true,
    });
    expect(() => controllerOwnerReference({ ...owner, metadata: { name: 'x' } })).toThrow(/uid/);
  });

  test('maps a child to its controller key, only for the wanted kind and group', () => {
    const ref = controllerOwnerReference(owner);
    expect(ownerKeyOf(child([ref]), serverImageKind)).toBe('prod/img');
    // Another version of the same group still matches.
    expect(ownerKeyOf(child([{ ...ref, apiVersion: 'serverimage.io/v1' }]), serverImageKind)).toBe(
      'prod/img',
    );
    expect(ownerKeyOf(child([{ ...ref, apiVersion: 'other.io/v1alpha1' }]), serverImageKind)).toBeUndefined();
    expect(ownerKeyOf(child([{ ...ref, kind: 'VirtualMachine' }]), serverImageKind)).toBeUndefined();
    expect(ownerKeyOf(child([{ ...ref, controller: false }]), serverImageKind)).toBeUndefined();
    expect(ownerKeyOf(child([]), serverImageKind)).toBeUndefined();
  });

  test('isControlledBy compares UIDs', () => {
    const ref = controllerOwnerReference(owner);
    expect(isControlledBy(child([ref]), owner)).toBe(true);
    expect(isControlledBy(child([{ ...ref, uid: 'uid-2' }]), owner)).toBe(false);
  });

  test('enqueueOwner handlers push the owner key, for old and new owner on update', () => {
    const keys: string[] = [];
    const h = enqueueOwner(serverImageKind, (k) => keys.push(k));
    const a = child([controllerOwnerReference(owner)]);
    const b = child([{ ...controllerOwnerReference(owner), name: 'img2', uid: 'uid-2' }]);
    h.onAdd(a);
    h.onUpdate(a, b);
    h.onDelete(child([]));
    expect(keys).toEqual(['prod/img', 'prod/img', 'prod/img2']);
  });
});
