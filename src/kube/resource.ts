// Where a kind lives in the API: group, served version, plural. Paths are built here
// once so informers, patches and discovery agree.

export interface ResourceRef {
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export function apiVersionOf(ref: Pick<ResourceRef, 'group' | 'version'>): string {
  return ref.group ? `${ref.group}/${ref.version}` : ref.version;
}

/** The collection path, e.g. /apis/serverimage.io/v1alpha1/namespaces/ns/serverimages. */
export function collectionPath(ref: ResourceRef, namespace?: string): string {
  const root = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${root}${ns}/${ref.plural}`;
}

/** The group of an apiVersion ("" for "v1"). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}
