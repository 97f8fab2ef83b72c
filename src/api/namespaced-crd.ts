// The part every CRD of ours has in common: a namespaced kind in our group at one version,
// with a status subresource, our category, and an OpenAPI schema whose spec and status
// come from zod (structural-schema.ts). Each kind's file gives only what is its own.
import type { z } from 'zod';
import { GROUP, VERSION } from './names.js';
import { structuralSchema } from './structural-schema.js';

export interface NamespacedCrd {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  printerColumns: Record<string, unknown>[];
  /** The kind's description in `kubectl explain`. */
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  /** CEL rules on the whole object (they can see metadata.name). */
  validations: Record<string, unknown>[];
}

export function namespacedCrd(crd: NamespacedCrd): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${crd.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: crd.kind,
        listKind: `${crd.kind}List`,
        plural: crd.plural,
        singular: crd.singular,
        shortNames: crd.shortNames,
        categories: ['kubevirt'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: crd.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: crd.description,
              required: ['spec'],
              properties: {
                apiVersion: {
                  type: 'string',
                  description: 'APIVersion defines the versioned schema of this representation of an object.',
                },
                kind: {
                  type: 'string',
                  description: 'Kind is a string value representing the REST resource.',
                },
                metadata: { type: 'object' },
                spec: structuralSchema(crd.spec),
                status: structuralSchema(crd.status),
              },
              'x-kubernetes-validations': crd.validations,
            },
          },
        },
      ],
    },
  };
}
