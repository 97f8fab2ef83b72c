// For the demo: what KubeVirt made for the image while it lived (the operator deletes its
// snapshot and export once the image is Active), seen by a watch: who wrote each one's
// status (managedFields: virt-controller), its last phase, and for an export the link the operator read;
// and the export's Pod (virt-controller's exporter Pod, gone with its export): where it ran, who
// wrote its status (the real kubelet), and its container as the node's runtime listed it then.
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

interface SeenPod {
  name: string;
  node?: string;
  ip?: string;
  /** Each phase it was seen in, in order (it ends Failed or Succeeded once its export is deleted). */
  phases: string[];
  statusManagers: Set<string>;
  containerId?: string;
  /** The runtime's own line for the container, read while it ran. */
  runtimeLine?: string;
}

/** The label virt-controller puts on an export's Pod (its Service's selector). */
const EXPORTER_LABEL = 'kubevirt.io.virt-export-service';

/** `listContainers`: the node's runtime listing (`ctr containers ls`), asked once the exporter runs. */
export async function watchKubevirtObjects(
  kc: k8s.KubeConfig,
  namespace: string,
  listContainers: () => Promise<string>,
) {
  const seen = new Map<string, Seen>();
  const pods = new Map<string, SeenPod>();
  const notePod = (pod: k8s.V1Pod) => {
    const name = pod.metadata?.name ?? '';
    const entry = pods.get(name) ?? { name, phases: [], statusManagers: new Set<string>() };
    pods.set(name, entry);
    entry.node = pod.spec?.nodeName ?? entry.node;
    entry.ip = pod.status?.podIP ?? entry.ip;
    const phase = pod.status?.phase;
    if (phase && entry.phases.at(-1) !== phase) entry.phases.push(phase);
    for (const f of pod.metadata?.managedFields ?? []) {
      if (f.subresource === 'status' && f.manager) entry.statusManagers.add(f.manager);
    }
    const id = pod.status?.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, '');
    if (id && !entry.containerId) {
      entry.containerId = id;
      void listContainers()
        .then(
          (listing) =>
            (entry.runtimeLine = listing
              .split('\n')
              .find((l) => l.startsWith(id))
              ?.trim()),
        )
        .catch((err: unknown) => (entry.runtimeLine = `(ctr failed: ${String(err)})`));
    }
  };
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
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const podInformer = k8s.makeInformer<k8s.V1Pod>(
    kc,
    `/api/v1/namespaces/${namespace}/pods`,
    () => core.listNamespacedPod({ namespace, labelSelector: EXPORTER_LABEL }),
    EXPORTER_LABEL,
  );
  podInformer.on('add', notePod);
  podInformer.on('update', notePod);
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
  stops.push(await startWatching(podInformer as k8s.Informer<k8s.KubernetesObject>));
  return {
    /** One line per object seen. */
    describe(): string {
      if (seen.size === 0) return 'No VirtualMachineSnapshot or VirtualMachineExport was seen.';
      const podLines = [...pods.values()].map((p) => {
        const by = [...p.statusManagers].sort().join(', ') || 'nobody';
        const runtime = p.runtimeLine
          ? `\n  the node's containerd listed it: ${p.runtimeLine.replace(/\s+/g, ' ')}`
          : '';
        return `Pod ${namespace}/${p.name} (the exporter): ${p.phases.join(' -> ') || 'no phase'} on ${p.node ?? 'no node'} at ${p.ip ?? 'no IP'}, status written by ${by}${runtime}`;
      });
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
        .concat(podLines)
        .join('\n');
    },
    stop: () => Promise.all(stops.map((s) => s())).then(() => undefined),
  };
}
