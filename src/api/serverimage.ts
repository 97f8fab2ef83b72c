// The ServerImage API: Nova's createImage as a Kubernetes object. These zod schemas
// are the one source of the TypeScript types and of crds/serverimage.io_serverimages.yaml
// (scripts/generate-crds.ts); the CEL rules ride along in `x-kubernetes-validations`.
import { z } from 'zod';
import { conditionSchema } from './condition.js';
import { objectNameSchema } from './object-name.js';
import {
  DNS1123_LABEL,
  NOVA_METADATA_KEY,
  NOVA_METADATA_MAX_ITEMS,
  OCI_REPOSITORY,
  OCI_TAG,
} from './names.js';

const cel = (rule: string, message: string, extra: Record<string, unknown> = {}) => ({
  rule,
  message,
  ...extra,
});

const localObjectReference = (what: string) =>
  z
    .object({
      name: objectNameSchema(`Name of the ${what} in the ServerImage's namespace.`),
    })
    .describe(`Reference to the ${what} in the same namespace.`);

export const registrySpecSchema = z
  .object({
    repository: z
      .string()
      .min(1)
      .max(255)
      .regex(new RegExp(OCI_REPOSITORY))
      .describe(
        'OCI repository the images are pushed to, with its registry host: e.g. registry.example.com/vm-images/web-01. ' +
          'Extra volumes go to the same repository under the tag <tag>-<volume>.',
      ),
    tag: z
      .string()
      .max(128)
      .regex(new RegExp(`${OCI_TAG}|^$`))
      .optional()
      .describe('Tag of the boot volume image. Defaults to metadata.name.'),
    credentialsSecretRef: localObjectReference(
      'Secret with registry credentials (type kubernetes.io/dockerconfigjson or kubernetes.io/basic-auth)',
    )
      .optional()
      .describe('Secret with the registry credentials. Anonymous access when omitted.'),
    caBundleSecretRef: z
      .object({
        name: objectNameSchema('Name of the Secret in the same namespace.'),
        key: z
          .string()
          .min(1)
          .max(253)
          .default('ca.crt')
          .describe('Key of the PEM bundle in the Secret. Defaults to ca.crt.'),
      })
      .optional()
      .describe("Secret holding a PEM CA bundle that signs the registry's TLS certificate, for private CAs."),
    insecure: z
      .boolean()
      .default(false)
      .describe(
        'Talk plain HTTP to the registry. For labs only: credentials and data cross the network in clear.',
      ),
  })
  .meta({
    'x-kubernetes-validations': [
      cel(
        '!(self.insecure && has(self.caBundleSecretRef))',
        'insecure (plain HTTP) and caBundleSecretRef exclude each other',
        {
          fieldPath: '.insecure',
        },
      ),
    ],
  })
  .describe('Where the images go.');

/** What a containerDisk image holds: the layer's compression and the disk file's format. */
export const imageFormatSchema = z
  .object({
    compression: z
      .enum(['gzip', 'zstd'])
      .default('gzip')
      .describe(
        'Layer compression: gzip (default; every container runtime and CDI version reads it) or zstd ' +
          '(smaller and faster; containerd 1.5+ and CRI-O read it, older CDI importers may not: see docs/images.md).',
      ),
    disk: z
      .enum(['raw', 'qcow2'])
      .default('raw')
      .describe(
        'Format of disk/disk.img: raw (default) or qcow2 (only the clusters that are not all zeros: ' +
          'a mostly empty disk unpacks to its used size on every node; read from the export twice).',
      ),
    layout: z
      .enum(['containerDisk', 'chunked'])
      .default('containerDisk')
      .describe(
        'How a disk is stored: containerDisk (default; one bootable image per disk) or chunked ' +
          '(an incremental backup: fixed-size zstd chunks, one registry blob each, so a backup uploads and ' +
          'stores only the chunks earlier backups in the repository do not hold; restored with ' +
          '`serverimage restore`, not bootable as a containerDisk; needs compression: zstd and disk: raw).',
      ),
  })
  .meta({
    'x-kubernetes-validations': [
      cel(
        "self.layout != 'chunked' || self.compression == 'zstd'",
        'layout chunked stores zstd chunks: set compression: zstd',
      ),
      cel(
        "self.layout != 'chunked' || self.disk == 'raw'",
        'layout chunked stores raw disk bytes: set disk: raw',
      ),
    ],
  })
  .describe('Layer compression, disk format and layout of the images.');

/** A duration as the API takes it: 90s, 5m, 1h30m (whole seconds, minutes, hours). */
export const API_DURATION = '^([0-9]+h)?([0-9]+m)?([0-9]+s)?$';

/** Verification by booting the image (issue 24): off unless asked for. */
export const verifySpecSchema = z
  .object({
    boot: z
      .object({
        timeout: z
          .string()
          .min(2)
          .max(16)
          .regex(new RegExp(API_DURATION))
          .default('5m')
          .describe(
            'How long the throw-away VirtualMachineInstance has, from its creation, to pass the check ' +
              '(pulling the image and booting the guest included): e.g. 90s, 5m, 1h. Defaults to 5m.',
          ),
        check: z
          .enum(['GuestAgent', 'Running'])
          .default('GuestAgent')
          .describe(
            'What counts as booted: GuestAgent (default; the guest agent connected, condition AgentConnected, ' +
              'so the operating system came up) or Running (the VMI Ready: QEMU runs the disk; for guests without ' +
              'an agent, it proves much less).',
          ),
      })
      .describe(
        'After the image is Active, boot its boot volume as a throw-away VirtualMachineInstance (containerDisk by ' +
          "digest, no network, the VM's memory) and record whether it came up in status.verification and the " +
          'Verified condition. Not possible for format.layout chunked (no containerDisk to boot).',
      ),
  })
  .describe('Verify the image once it is Active (the phase stays Active either way).');

export const serverImageSpecSchema = z
  .object({
    serverRef: localObjectReference('KubeVirt VirtualMachine').describe(
      'The KubeVirt VirtualMachine to image, in the same namespace (Nova: the server).',
    ),
    imageName: z
      .string()
      .min(1)
      .max(255)
      .optional()
      .describe(
        'Human name of the image, 1-255 characters (Nova createImage.name). Defaults to metadata.name.',
      ),
    metadata: z
      .record(z.string(), z.string().max(255))
      .optional()
      .meta({
        maxProperties: NOVA_METADATA_MAX_ITEMS,
        'x-kubernetes-validations': [
          cel(
            `self.all(k, k.matches('${NOVA_METADATA_KEY.replace(/\\/g, '\\\\')}'))`,
            'metadata keys must be 1-255 characters of letters, digits, space and - _ : .',
          ),
        ],
      })
      .describe(
        `Image properties (Nova createImage.metadata): at most ${NOVA_METADATA_MAX_ITEMS} entries, keys of 1-255 ` +
          'letters, digits, space and - _ : . , values of at most 255 characters. Stored as manifest annotations.',
      ),
    registry: registrySpecSchema,
    volumes: z
      .array(
        z
          .string()
          .min(1)
          .max(63)
          .regex(new RegExp(DNS1123_LABEL))
          .describe('A volume name of the VirtualMachine.'),
      )
      .max(64)
      .optional()
      .meta({ 'x-kubernetes-list-type': 'set' })
      .describe(
        'Volumes to image, by name. Default: every disk volume, the boot disk first. ' +
          'The first volume in boot order (lowest bootOrder, else declaration order) among those imaged ' +
          'gets the bare tag <tag>; every other one <tag>-<volume>. With volumes: [data] alone, data gets the bare tag.',
      ),
    format: imageFormatSchema.default({ compression: 'gzip', disk: 'raw', layout: 'containerDisk' }),
    deletionPolicy: z
      .enum(['Retain', 'Delete'])
      .default('Retain')
      .describe(
        'What happens to the pushed registry tags when this ServerImage is deleted: Retain or Delete.',
      ),
    verify: verifySpecSchema.optional(),
  })
  .meta({
    'x-kubernetes-validations': [
      cel(
        'self == oldSelf',
        'spec is immutable: a ServerImage is a request; create a new one for a new image',
      ),
    ],
  })
  .describe('The image request. Immutable after creation, like a POST.');

export const PHASES = ['Queued', 'Saving', 'Active', 'Error'] as const;
export type Phase = (typeof PHASES)[number];

export const VERIFICATION_RESULTS = ['Verifying', 'Verified', 'VerificationFailed'] as const;
export type VerificationResult = (typeof VERIFICATION_RESULTS)[number];

const quantity = (description: string) => z.number().int().min(0).describe(description);
const timestamp = (description: string) => z.string().describe(description).meta({ format: 'date-time' });

/** What an incremental (chunked) backup of one volume stored, and what it reused. */
export const chunkedStatusSchema = z
  .object({
    chunkSize: quantity('Bytes of disk per chunk.'),
    chunks: quantity('Chunks of the disk, all-zero ones included.'),
    zeroChunks: quantity('All-zero chunks: not stored.'),
    newChunks: quantity('Chunks compressed and uploaded by this backup.'),
    reusedChunks: quantity(
      'Chunks the repository already held (from earlier backups): referenced, not sent.',
    ),
    newBytes: quantity('Compressed bytes this backup uploaded.'),
    reusedBytes: quantity('Compressed bytes this backup references that the repository already held.'),
    diskSha256: z.string().describe('sha256 of the whole raw disk, checked when it is read back.'),
  })
  .describe('An incremental backup (format.layout chunked): what was new and what was reused.');

export const imageStatusSchema = z
  .object({
    volume: z.string().describe('Name of the VirtualMachine volume this image holds.'),
    reference: z.string().describe('Pushed image reference, repository:tag.'),
    digest: z.string().describe('Digest of the pushed manifest, sha256:...'),
    size: quantity(
      'Bytes of the compressed layer as stored in the registry (what the registry bills and a pull ' +
        'downloads; Glance: size).',
    ),
    diskSize: quantity(
      "Bytes of the virtual disk inside the image, the volume's raw size (Glance: virtual_size).",
    ).optional(),
    diskFormat: z.string().describe('Format of the disk inside the image, raw or qcow2.'),
    chunked: chunkedStatusSchema.optional(),
  })
  .describe('One pushed image.');

export const serverImageStatusSchema = z
  .object({
    phase: z
      .enum(PHASES)
      .optional()
      .describe('Queued, Saving, Active or Error (Glance: queued, saving, active, killed).'),
    conditions: z
      .array(conditionSchema)
      .optional()
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
      .describe('Ready, plus one condition per step, with reasons.'),
    observedGeneration: quantity('The metadata.generation this status describes.').optional(),
    startTime: timestamp('When the operator started working on the request.').optional(),
    completionTime: timestamp('When the request reached Active or Error.').optional(),
    server: z
      .object({
        uid: z.string().optional().describe('UID of the VirtualMachine at request time.'),
        statusAtRequest: z
          .string()
          .optional()
          .describe("The VM's printableStatus when the request was accepted."),
        restored: z.boolean().optional().describe('Whether the VM returned to that status afterwards.'),
      })
      .optional()
      .describe('The VirtualMachine as it was when imaged.'),
    snapshot: z
      .object({
        name: z.string().optional().describe('Name of the VirtualMachineSnapshot.'),
        indications: z
          .array(z.string().describe('An indication, e.g. Online, GuestAgent, NoGuestAgent, Paused.'))
          .optional()
          .describe('How consistent the snapshot is, as KubeVirt reports it.'),
      })
      .optional()
      .describe('The KubeVirt snapshot the images were made from.'),
    images: z.array(imageStatusSchema).optional().describe('The pushed images, boot volume first.'),
    vmArtifact: z
      .object({
        reference: z.string().describe('repository@sha256:... of the artifact manifest.'),
        digest: z.string().describe('Digest of the artifact manifest, sha256:...'),
      })
      .optional()
      .describe(
        "The VM's definition and the volume -> image map, pushed as an OCI artifact whose subject " +
          'is the boot image (what `serverimage restore` reads).',
      ),
    retry: z
      .object({
        step: z
          .string()
          .describe(
            'The step waited for or retried: its condition type, e.g. VolumesReady, RegistryReady, Pushed.',
          ),
        since: timestamp('When this wait or run of failures began: its deadline counts from here.'),
        attempts: z.number().int().min(0).describe('Failed attempts so far in this run.'),
        lastError: z.string().max(4096).optional().describe('The latest failure, as a person reads it.'),
        nextAttemptAt: timestamp('When the next attempt is due.').optional(),
      })
      .optional()
      .describe(
        'The wait or retry in progress, kept in status so a restarted or newly elected operator ' +
          'continues the same deadline and backoff. Absent when nothing is being retried.',
      ),
    verification: z
      .object({
        result: z
          .enum(VERIFICATION_RESULTS)
          .describe('Verifying while the throw-away VMI boots, then Verified or VerificationFailed.'),
        startTime: timestamp(
          'When the verification began (its VMI was created): the deadline counts from here.',
        ),
        completionTime: timestamp('When the result was reached.').optional(),
        message: z.string().max(4096).optional().describe('What happened, as a person reads it.'),
      })
      .optional()
      .describe('The boot verification (spec.verify.boot): absent when not asked for.'),
    progress: z
      .object({
        bytesDone: quantity('Disk bytes read and pushed so far.'),
        bytesTotal: quantity('Disk bytes to push in all.'),
      })
      .optional()
      .describe('Upload progress over all volumes.'),
  })
  .describe('What the operator observed and did.');

export const serverImageSchema = z.object({
  apiVersion: z.literal('serverimage.io/v1alpha1'),
  kind: z.literal('ServerImage'),
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
  spec: serverImageSpecSchema,
  status: serverImageStatusSchema.optional(),
});

export type ServerImageSpec = z.infer<typeof serverImageSpecSchema>;
export type VerifySpec = z.infer<typeof verifySpecSchema>;
export type Verification = NonNullable<z.infer<typeof serverImageStatusSchema>['verification']>;
export type ImageFormat = z.infer<typeof imageFormatSchema>;
export type ServerImageStatus = z.infer<typeof serverImageStatusSchema>;
export type ServerImage = z.infer<typeof serverImageSchema>;
