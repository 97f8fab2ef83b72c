// Which field managers wrote the objects of some kinds in a namespace, as a watch saw
// them: how a real-bed suite proves that KubeVirt's own controllers (not the simulator)
// made a snapshot's or an export's status.
import * as k8s from '@kubernetes/client-node';
import type { Obj, Resource } from '../harness/kubevirt/api.js';
import { kubeConfig } from '../harness/testbed.js';

/** Every manager that wrote an object of these kinds in `ns`, per kind and subresource (seen by a watch). */
export function recordManagers(namespace: string, resources: Resource[]) {
  const seen = new Map<string, Set<string>>();
  const informers = resources.map((r) => {
    const kc = kubeConfig();
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const informer = k8s.makeInformer<Obj>(
      kc,
      `/apis/${r.group}/${r.version}/namespaces/${namespace}/${r.plural}`,
      () => api.listNamespacedCustomObject({ ...r, namespace }),
    );
    const note = (o: Obj) => {
      for (const f of o.metadata.managedFields ?? []) {
        const key = `${r.kind}${f.subresource ? `/${f.subresource}` : ''}`;
        if (!seen.has(key)) seen.set(key, new Set());
        seen.get(key)!.add(f.manager!);
      }
    };
    informer.on('add', note);
    informer.on('update', note);
    return informer;
  });
  return {
    start: () => Promise.all(informers.map((i) => i.start())),
    stop: () => Promise.all(informers.map((i) => i.stop())),
    managers: () => Object.fromEntries([...seen].map(([k, v]) => [k, [...v].sort()])),
  };
}
