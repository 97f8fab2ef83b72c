// Deterministic names of the objects a ServerImage makes, so a restarted operator finds
// its work instead of starting over. Derived from the ServerImage's name and UID: the
// name for people, the UID so a re-created ServerImage of the same name never adopts
// the children of its predecessor.
export interface ChildNames {
  snapshot: string;
  export: string;
  exportToken: string;
}

// KubeVirt names the export's Service virt-export-<name>: a DNS label of at most 63.
const MAX_EXPORT_NAME = 63 - 'virt-export-'.length;

export function childNames(serverImageName: string, uid: string): ChildNames {
  const suffix = uid.replace(/-/g, '').slice(0, 8);
  const readable = serverImageName
    .replace(/\./g, '-')
    .slice(0, MAX_EXPORT_NAME - suffix.length - 1)
    .replace(/-+$/, '');
  const base = `${readable}-${suffix}`;
  return { snapshot: base, export: base, exportToken: `${base}-export-token` };
}
