// The ServerImage CustomResourceDefinition, built from the zod schemas.
import { GROUP, VERSION } from './names.js';
import { serverImageSpecSchema, serverImageStatusSchema } from './serverimage.js';
import { serverImageScheduleCrd } from './serverimageschedule-crd.js';
import { structuralSchema } from './structural-schema.js';

export const SERVERIMAGE_PLURAL = 'serverimages';

export function serverImageCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${SERVERIMAGE_PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: 'ServerImage',
        listKind: 'ServerImageList',
        plural: SERVERIMAGE_PLURAL,
        singular: 'serverimage',
        shortNames: ['simg'],
        categories: ['kubevirt'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            {
              name: 'Server',
              type: 'string',
              jsonPath: '.spec.serverRef.name',
              description: 'The VirtualMachine',
            },
            {
              name: 'Phase',
              type: 'string',
              jsonPath: '.status.phase',
              description: 'Queued, Saving, Active or Error',
            },
            {
              name: 'Image',
              type: 'string',
              jsonPath: '.status.images[0].reference',
              description: 'The pushed image of the boot volume',
            },
            {
              name: 'Reason',
              type: 'string',
              jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
              description: 'Why it is (not) ready',
            },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'ServerImage turns a KubeVirt VirtualMachine into bootable containerDisk images in an OCI registry: ' +
                "OpenStack Nova's createImage server action, the Kubernetes way.",
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
                spec: structuralSchema(serverImageSpecSchema),
                status: structuralSchema(serverImageStatusSchema),
              },
              'x-kubernetes-validations': [
                {
                  // The tag defaults to metadata.name, and a tag has at most 128 characters.
                  rule: "(has(self.spec.registry.tag) && self.spec.registry.tag != '') || self.metadata.name.size() <= 128",
                  message:
                    'metadata.name is longer than 128 characters, the limit of an image tag: set spec.registry.tag',
                  fieldPath: '.spec.registry.tag',
                },
              ],
            },
          },
        },
      ],
    },
  };
}

/** All CRDs of the project, in the order they are applied. */
export function allCrds(): Record<string, unknown>[] {
  return [serverImageCrd(), serverImageScheduleCrd()];
}
