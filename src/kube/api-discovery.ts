// Which version of a group/kind the API server serves, e.g. export.kubevirt.io is
// v1beta1 on KubeVirt < 1.5 and v1 (with v1beta1 deprecated) later. We take the
// group's preferred version when it has the kind, else the first other served
// version that has it (the server lists versions newest first).
import { ApisApi, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { isNotFound } from './errors.js';
import type { ResourceRef } from './resource.js';

export interface DiscoveredResource extends ResourceRef {
  namespaced: boolean;
  /** The versions of the group the server serves, preferred first. */
  servedVersions: string[];
}

/** Undefined when the server does not serve `kind` in `group` at all (CRD not installed). */
export async function discoverResource(
  kubeConfig: KubeConfig,
  group: string,
  kind: string,
): Promise<DiscoveredResource | undefined> {
  const versions = await servedVersions(kubeConfig, group);
  for (const version of versions) {
    const resources = await resourcesOf(kubeConfig, group, version);
    // Subresources ("serverimages/status") share the kind; skip them.
    const found = resources.find((r) => r.kind === kind && !r.name.includes('/'));
    if (found)
      return {
        group,
        version,
        kind,
        plural: found.name,
        namespaced: found.namespaced,
        servedVersions: versions,
      };
  }
  return undefined;
}

/** Served versions of `group`, the preferred one first; [] when the group is unknown. */
export async function servedVersions(kubeConfig: KubeConfig, group: string): Promise<string[]> {
  if (group === '') return ['v1'];
  const groups = await kubeConfig.makeApiClient(ApisApi).getAPIVersions();
  const entry = groups.groups.find((g) => g.name === group);
  if (!entry) return [];
  const preferred = entry.preferredVersion?.version;
  const all = entry.versions.map((v) => v.version);
  return preferred ? [preferred, ...all.filter((v) => v !== preferred)] : all;
}

async function resourcesOf(kubeConfig: KubeConfig, group: string, version: string) {
  try {
    const list =
      group === ''
        ? await kubeConfig.makeApiClient(CoreV1Api).getAPIResources()
        : await kubeConfig.makeApiClient(CustomObjectsApi).getAPIResources({ group, version });
    return list.resources;
  } catch (err) {
    // A version can vanish between the two calls (CRD updated): treat as not served.
    if (isNotFound(err)) return [];
    throw err;
  }
}
