// VirtualMachineExport of a snapshot: the manifest we create and the links we read.
import { z } from 'zod';
import { EXPORT_GROUP, EXPORT_KIND } from './groups.js';
import { kubevirtConditionsSchema, parseObject } from './parse.js';
import type { OwnerReference } from './snapshot.js';

export function exportManifest(
  version: string,
  namespace: string,
  name: string,
  snapshotName: string,
  owner: OwnerReference,
  labels: Record<string, string>,
  tokenSecretName: string,
): Record<string, unknown> {
  return {
    apiVersion: `${EXPORT_GROUP}/${version}`,
    kind: EXPORT_KIND,
    metadata: { name, namespace, labels, ownerReferences: [owner] },
    spec: {
      source: { apiGroup: 'snapshot.kubevirt.io', kind: 'VirtualMachineSnapshot', name: snapshotName },
      // Our own token Secret, owned by the ServerImage, so we never read a Secret we did not make.
      tokenSecretRef: tokenSecretName,
    },
  };
}

const exportStatusSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string() }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      conditions: kubevirtConditionsSchema,
      links: z
        .looseObject({
          internal: z
            .looseObject({
              cert: z.string().optional(),
              volumes: z
                .array(
                  z.looseObject({
                    name: z.string(),
                    formats: z.array(z.looseObject({ format: z.string(), url: z.string() })).optional(),
                  }),
                )
                .optional(),
            })
            .optional(),
        })
        .optional(),
    })
    .optional(),
});

export interface ExportView {
  name: string;
  phase: string;
  ready: boolean;
  /** Reason of the Ready condition when not ready (e.g. InUse, NotAllPVCsCreated). */
  notReadyReason?: string;
  notReadyMessage?: string;
  caPem?: string;
  /** Raw-format URL of each exported volume, by export volume name (the source PVC's name). */
  rawUrls: Map<string, string>;
}

export function viewExport(object: unknown): ExportView {
  const exported = parseObject(exportStatusSchema, EXPORT_KIND, object);
  const status = exported.status ?? {};
  const readyCondition = status.conditions?.find((c) => c.type === 'Ready');
  const rawUrls = new Map<string, string>();
  for (const volume of status.links?.internal?.volumes ?? []) {
    const raw = volume.formats?.find((f) => f.format === 'raw');
    if (raw) rawUrls.set(volume.name, raw.url);
  }
  const ready = status.phase === 'Ready';
  return {
    name: exported.metadata.name,
    phase: status.phase ?? '',
    ready,
    notReadyReason: ready ? undefined : readyCondition?.reason,
    notReadyMessage: ready ? undefined : readyCondition?.message,
    caPem: status.links?.internal?.cert,
    rawUrls,
  };
}
