// List+watch caches of every kind the node simulator reacts to, shared by its controllers.
// client-node's informer stops on a watch error; here it restarts after a second.
import * as k8s from '@kubernetes/client-node';
import { DATA_VOLUME, VM, VOLUME_SNAPSHOT, type Obj, type Resource } from './api.js';

export type Informer<T extends k8s.KubernetesObject> = k8s.Informer<T> & k8s.ObjectCache<T>;

export interface Informers {
  vms: Informer<Obj>;
  volumeSnapshots: Informer<Obj>;
  dataVolumes: Informer<Obj>;
  pvcs: Informer<k8s.V1PersistentVolumeClaim>;
}

function customInformer(kc: k8s.KubeConfig, r: Resource): Informer<Obj> {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  return k8s.makeInformer<Obj>(kc, `/apis/${r.group}/${r.version}/${r.plural}`, () =>
    api.listClusterCustomObject({ group: r.group, version: r.version, plural: r.plural }),
  );
}

export function makeInformers(kc: k8s.KubeConfig): Informers {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return {
    vms: customInformer(kc, VM),
    volumeSnapshots: customInformer(kc, VOLUME_SNAPSHOT),
    dataVolumes: customInformer(kc, DATA_VOLUME),
    pvcs: k8s.makeInformer(kc, '/api/v1/persistentvolumeclaims', () =>
      core.listPersistentVolumeClaimForAllNamespaces(),
    ),
  };
}

/**
 * Starts every informer and resolves once each has listed (a CRD that was just
 * established answers 429 "storage is (re)initializing" for a moment: retried).
 * Afterwards a failed watch restarts after a second, until stopped.
 */
export async function startInformers(
  informers: Informers,
  log: (m: string, e?: unknown) => void,
): Promise<() => Promise<void>> {
  let stopped = false;
  const all = Object.entries(informers) as Array<[string, Informer<k8s.KubernetesObject>]>;
  const starting = new Set<string>();
  const failedWhileStarting = new Set<string>();
  for (const [name, informer] of all) {
    informer.on('error', (err) => {
      if (stopped) return;
      if (starting.has(name)) {
        failedWhileStarting.add(name);
        return;
      }
      log(`informer ${name}: watch failed, restarting`, err);
      setTimeout(() => {
        if (!stopped) informer.start().catch(() => undefined);
      }, 1000);
    });
  }
  const startOne = async (name: string, informer: Informer<k8s.KubernetesObject>) => {
    for (let attempt = 1; ; attempt++) {
      starting.add(name);
      failedWhileStarting.delete(name);
      await informer.start();
      starting.delete(name);
      if (!failedWhileStarting.has(name)) return;
      if (attempt >= 60) throw new Error(`informer ${name} could not list`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  await Promise.all(all.map(([name, informer]) => startOne(name, informer)));
  return async () => {
    stopped = true;
    await Promise.all(all.map(([, informer]) => informer.stop()));
  };
}
