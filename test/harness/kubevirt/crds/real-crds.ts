// The CRDs of KubeVirt v1.8.4, CDI v1.65.0 and external-snapshotter v8.4.0 as the projects'
// own generators make them (tools/kubevirt-crds/main.go prints them), so the API server
// validates every object the operator creates and every status the simulator writes
// against the real schemas. One change on top: export.kubevirt.io/v1 (see withExportV1).
import { execFileSync } from 'node:child_process';
import type { V1CustomResourceDefinition, V1CustomResourceDefinitionVersion } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { toolPath } from '../../tools.js';

const printed = new Map<boolean, V1CustomResourceDefinition[]>();

/**
 * Every CRD kubevirt-crds prints (run once per process: ~2 MB of YAML); `all`: every CRD
 * of KubeVirt and CDI, which the real virt-controller needs (it watches them all).
 */
export function generatedCrds(all = false): V1CustomResourceDefinition[] {
  let crds = printed.get(all);
  if (!crds) {
    crds = parseAllDocuments(
      execFileSync(toolPath('kubevirt-crds'), all ? ['-all'] : [], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      }),
    )
      .map((doc) => doc.toJS() as V1CustomResourceDefinition | null)
      .filter((crd): crd is V1CustomResourceDefinition => crd?.kind === 'CustomResourceDefinition');
    printed.set(all, crds);
  }
  return crds;
}

export const EXPORT_CRD = 'virtualmachineexports.export.kubevirt.io';

/**
 * KubeVirt 1.9 serves and stores export.kubevirt.io/v1 beside v1beta1; 1.8.4 (the newest
 * KubeVirt that builds here) has v1alpha1 and v1beta1 only. The bed adds a v1 with
 * v1beta1's schema, stored, so the operator's version discovery meets both releases'
 * shapes (without it, the export CRD is exactly 1.8.4's).
 */
export function withExportV1(crd: V1CustomResourceDefinition): V1CustomResourceDefinition {
  if (crd.metadata?.name !== EXPORT_CRD) return crd;
  const versions = crd.spec.versions.filter((v) => v.name !== 'v1');
  const beta = versions.find((v) => v.name === 'v1beta1');
  if (!beta) throw new Error(`${EXPORT_CRD} has no v1beta1 to copy`);
  const v1: V1CustomResourceDefinitionVersion = { ...structuredClone(beta), name: 'v1', storage: true };
  return {
    ...crd,
    spec: { ...crd.spec, versions: [v1, ...versions.map((v) => ({ ...v, storage: false }))] },
  };
}
