// Who wrote an object: the managers of its managedFields, as a watch sees them. The
// real-controller suites use it to show that virt-controller (not the simulator) made the
// status of the snapshots and exports.
import * as k8s from '@kubernetes/client-node';
import { VM_EXPORT, VM_SNAPSHOT, type Obj, type Resource } from '../harness/kubevirt/api.js';
import { kubeConfig } from '../harness/testbed.js';

/** Every manager that wrote an object of these kinds in `ns`, per kind and subresource (seen by a watch). */
export function recordManagers(namespace: string, resources: Resource[] = [VM_SNAPSHOT, VM_EXPORT]) {
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

/** The snapshots' and exports' status was written by KubeVirt's controller only. */
export function expectStatusByVirtController(recorder: ReturnType<typeof recordManagers>) {
  expect(recorder.managers()).toEqual(
    expect.objectContaining({
      'VirtualMachineSnapshot/status': ['virt-controller'],
      'VirtualMachineExport/status': ['virt-controller'],
    }),
  );
}

/**
 * Who wrote the status of the Pods in `ns` whose name starts with `prefix`, and on which
 * Node they ran, as a watch sees them (an exporter Pod is gone once its image is Active).
 */
export function recordPodStatus(namespace: string, prefix: string) {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const managers = new Set<string>();
  const nodes = new Set<string>();
  const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${namespace}/pods`, () =>
    core.listNamespacedPod({ namespace }),
  );
  const note = (pod: k8s.V1Pod) => {
    if (!pod.metadata?.name?.startsWith(prefix)) return;
    if (pod.spec?.nodeName) nodes.add(pod.spec.nodeName);
    for (const f of pod.metadata.managedFields ?? [])
      if (f.subresource === 'status') managers.add(f.manager!);
  };
  informer.on('add', note);
  informer.on('update', note);
  return {
    start: () => informer.start(),
    stop: () => informer.stop(),
    seen: () => ({ statusManagers: [...managers].sort(), nodes: [...nodes].sort() }),
  };
}

/**
 * The Pods ran on `node` and their status was the real kubelet's. kube-scheduler writes
 * status only when an attempt to place a Pod fails (PodScheduled=False; a bound Pod's
 * placement is its binding, not a status write), which a Pod whose volume is not there yet
 * can meet: it may be there too, no one else.
 */
export function expectStatusByKubelet(
  seen: ReturnType<ReturnType<typeof recordPodStatus>['seen']>,
  node: string,
) {
  expect(seen.nodes).toEqual([node]);
  expect(seen.statusManagers).toContain('kubelet');
  expect(seen.statusManagers.filter((m) => m !== 'kubelet' && m !== 'kube-scheduler')).toEqual([]);
}
