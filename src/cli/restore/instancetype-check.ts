// A restored VM names the original's instancetype and preference. Namespaced ones
// (VirtualMachineInstancetype, VirtualMachinePreference) live in the original's namespace:
// restored into another, the VM would name objects that are not there, and KubeVirt makes
// nothing for it (FailedFindInstancetype) while the CLI had said all was created. So they
// are looked up first, and a missing one refuses the restore with what to do.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { isNotFound, servedVersions } from '../../kube/index.js';
import { CliError } from '../exit-codes.js';

const GROUP = 'instancetype.kubevirt.io';

/** KubeVirt's defaults when a matcher names no kind: the cluster-wide kinds. */
const MATCHERS = {
  instancetype: {
    namespaced: 'VirtualMachineInstancetype',
    cluster: 'VirtualMachineClusterInstancetype',
  },
  preference: { namespaced: 'VirtualMachinePreference', cluster: 'VirtualMachineClusterPreference' },
} as const;

interface Matcher {
  name?: string;
  kind?: string;
}

export interface MissingReference {
  kind: string;
  name: string;
}

const pluralOf = (kind: string) => `${kind.toLowerCase()}s`;

/** The instancetype and preference a VM spec names that the cluster does not have for `namespace`. */
export async function missingInstancetypes(
  kubeConfig: KubeConfig,
  spec: Record<string, unknown>,
  namespace: string,
): Promise<MissingReference[]> {
  const wanted = (Object.keys(MATCHERS) as (keyof typeof MATCHERS)[])
    .map((key) => {
      const matcher = spec[key] as Matcher | undefined;
      if (!matcher?.name) return undefined;
      return { kind: matcher.kind ?? MATCHERS[key].cluster, name: matcher.name };
    })
    .filter((m): m is MissingReference => m !== undefined);
  if (wanted.length === 0) return [];
  const version = (await servedVersions(kubeConfig, GROUP))[0];
  if (!version) return wanted; // KubeVirt's instancetype API is not served at all
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const missing: MissingReference[] = [];
  for (const ref of wanted) {
    const plural = pluralOf(ref.kind);
    const namespaced =
      ref.kind === MATCHERS.instancetype.namespaced || ref.kind === MATCHERS.preference.namespaced;
    try {
      if (namespaced)
        await api.getNamespacedCustomObject({ group: GROUP, version, namespace, plural, name: ref.name });
      else await api.getClusterCustomObject({ group: GROUP, version, plural, name: ref.name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      missing.push(ref);
    }
  }
  return missing;
}

/** Refuses the restore, naming what is missing and the two ways out. */
export function refuseMissing(missing: MissingReference[], namespace: string, from?: string): CliError {
  const list = missing.map((m) => `${m.kind} ${m.name}`).join(' and ');
  const namespaced = missing.filter((m) => !m.kind.includes('Cluster'));
  const them = namespaced.length > 1 ? 'them' : 'it';
  const objects = namespaced.map((m) => `${m.kind.toLowerCase()}/${m.name}`).join(' ');
  const how = namespaced.length
    ? `copy ${them} into namespace ${namespace} first (kubectl get ${objects}${from ? ` -n ${from}` : ''} -o yaml, ` +
      `then create ${them} in ${namespace} without metadata.namespace, uid and resourceVersion), ` +
      'or have the VM name cluster-wide ones (VirtualMachineClusterInstancetype, VirtualMachineClusterPreference)'
    : 'create them, or restore with -o yaml and change spec.instancetype and spec.preference';
  return new CliError(
    `the VM names ${list}, which namespace ${namespace} does not have, and KubeVirt would make nothing for it. ` +
      `Nothing was created: ${how}`,
  );
}
