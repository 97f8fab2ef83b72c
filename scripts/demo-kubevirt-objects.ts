// For the demo: what KubeVirt made for the image while it lived (the operator deletes its
// snapshot and export once the image is Active), seen by a watch: who wrote each one's
// status (managedFields: virt-controller), its last phase, and for an export the link the operator read.
import * as k8s from '@kubernetes/client-node';
import { VM_EXPORT, VM_SNAPSHOT, type Obj, type Resource } from '../test/harness/kubevirt/api.js';
import { startWatching } from '../test/harness/kubevirt/real/watch.js';

interface Seen {
  kind: string;
  name: string;
  phase?: string;
  statusManagers: Set<string>;
  link?: string;
  indications?: string[];
}

export async function watchKubevirtObjects(kc: k8s.KubeConfig, namespace: string) {
  const seen = new Map<string, Seen>();
  const note = (r: Resource) => (o: Obj) => {
    const key = `${r.kind}/${o.metadata.name}`;
    const entry = seen.get(key) ?? { kind: r.kind, name: o.metadata.name, statusManagers: new Set() };
    seen.set(key, entry);
    entry.phase = o.status?.phase ?? entry.phase;
    entry.indications = o.status?.indications ?? entry.indications;
    const raw = o.status?.links?.internal?.volumes?.[0]?.formats?.find(
      (f: { format: string }) => f.format === 'raw',
    );
    entry.link = raw?.url ?? entry.link;
    for (const f of o.metadata.managedFields ?? []) {
      if (f.subresource === 'status' && f.manager) entry.statusManagers.add(f.manager);
    }
  };
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const stops = await Promise.all(
    [VM_SNAPSHOT, VM_EXPORT].map((r) => {
      const informer = k8s.makeInformer<Obj>(
        kc,
        `/apis/${r.group}/${r.version}/namespaces/${namespace}/${r.plural}`,
        () => api.listNamespacedCustomObject({ ...r, namespace }),
      );
      informer.on('add', note(r));
      informer.on('update', note(r));
      return startWatching(informer as k8s.Informer<k8s.KubernetesObject>);
    }),
  );
  return {
    /** One line per object seen. */
    describe(): string {
      if (seen.size === 0) return 'No VirtualMachineSnapshot or VirtualMachineExport was seen.';
      return [...seen.values()]
        .map((s) => {
          const by = [...s.statusManagers].sort().join(', ') || 'nobody';
          const extra = s.link
            ? `; links.internal (what the operator read): ${s.link}`
            : s.indications
              ? `; indications [${s.indications.join(', ')}]`
              : '';
          return `${s.kind} ${namespace}/${s.name}: ${s.phase ?? 'no phase'}, status written by ${by}${extra}`;
        })
        .join('\n');
    },
    stop: () => Promise.all(stops.map((s) => s())).then(() => undefined),
  };
}
