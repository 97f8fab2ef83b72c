// The ServerImage CustomResourceDefinition, built from the zod schemas.
import { namespacedCrd } from './namespaced-crd.js';
import { serverImageSpecSchema, serverImageStatusSchema } from './serverimage.js';
import { serverImageScheduleCrd } from './serverimageschedule-crd.js';
import { SERVERIMAGE_KIND, SERVERIMAGE_PLURAL } from './kinds.js';

export function serverImageCrd(): Record<string, unknown> {
  return namespacedCrd({
    kind: SERVERIMAGE_KIND,
    plural: SERVERIMAGE_PLURAL,
    singular: 'serverimage',
    // Short names are the kinds' initials (si, sis); simg stays as the older alias.
    shortNames: ['si', 'simg'],
    printerColumns: [
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
      // -o wide (priority 1): where it goes and what is happening, in the operator's words.
      {
        name: 'Repository',
        type: 'string',
        jsonPath: '.spec.registry.repository',
        description: 'The repository the images are pushed to',
        priority: 1,
      },
      {
        name: 'Snapshot',
        type: 'string',
        jsonPath: '.status.snapshot.name',
        description: 'The VirtualMachineSnapshot taken',
        priority: 1,
      },
      {
        name: 'Message',
        type: 'string',
        jsonPath: '.status.conditions[?(@.type=="Ready")].message',
        description: 'The Ready condition message',
        priority: 1,
      },
    ],
    description:
      'ServerImage turns a KubeVirt VirtualMachine into bootable containerDisk images in an OCI registry: ' +
      "OpenStack Nova's createImage server action, the Kubernetes way.",
    spec: serverImageSpecSchema,
    status: serverImageStatusSchema,
    validations: [
      {
        // The tag defaults to metadata.name, and a tag has at most 128 characters.
        rule: "(has(self.spec.registry.tag) && self.spec.registry.tag != '') || self.metadata.name.size() <= 128",
        message:
          'metadata.name is longer than 128 characters, the limit of an image tag: set spec.registry.tag',
        fieldPath: '.spec.registry.tag',
      },
    ],
  });
}

/** All CRDs of the project, in the order they are applied. */
export function allCrds(): Record<string, unknown>[] {
  return [serverImageCrd(), serverImageScheduleCrd()];
}
