// The artifact that makes an image restorable from a reference alone, in a cluster that
// never saw its ServerImage: an OCI 1.1
// artifact whose subject is the boot image's manifest, holding the VM's definition and the
// volume -> image map. Its bytes depend only on what was imaged (no clock, sorted keys by
// construction), so a restarted operator pushes the same digest again: idempotent.
//
//   manifest  artifactType application/vnd.serverimage.io.vm.v1+json
//             config       the empty descriptor (application/vnd.oci.empty.v1+json, "{}")
//             layers[0]    the document below, mediaType = artifactType
//             subject      the boot image's manifest
import { z } from 'zod';
import { listReferrers, pushReferrer, type RegistryClient } from '../registry/index.js';
import { MEDIA_TYPE, serialize } from './image.js';

export const VM_ARTIFACT_TYPE = 'application/vnd.serverimage.io.vm.v1+json';
const EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
const EMPTY = serialize({});

export const vmArtifactVolumeSchema = z.object({
  volume: z.string(),
  /** repository@sha256:... of the volume's image. */
  reference: z.string(),
  /** repository:tag as pushed. */
  tagReference: z.string(),
  digest: z.string(),
  diskSize: z.number().int().min(0).optional(),
  diskFormat: z.string(),
});

export const vmArtifactDocumentSchema = z.object({
  apiVersion: z.literal('serverimage.io/v1alpha1'),
  kind: z.literal('VirtualMachineImage'),
  /** Where the VM came from, for people. */
  source: z.object({ namespace: z.string(), name: z.string() }),
  /** spec.source.virtualMachine of the snapshot content, cleaned (vm-definition.ts). */
  virtualMachine: z.object({
    metadata: z.looseObject({ name: z.string() }),
    spec: z.looseObject({}),
  }),
  /** The imaged volumes, boot volume first. */
  volumes: z.array(vmArtifactVolumeSchema).min(1),
});

export type VmArtifactDocument = z.infer<typeof vmArtifactDocumentSchema>;
export type VmArtifactVolume = z.infer<typeof vmArtifactVolumeSchema>;

export interface PushedVmArtifact {
  /** repository@sha256:... of the artifact manifest. */
  reference: string;
  digest: string;
}

/**
 * Pushes the artifact beside the boot image (`subject`: its manifest, read back for its
 * exact size) and lists it as a referrer (referrers API or the tag schema).
 */
export async function pushVmArtifact(
  registry: RegistryClient,
  document: VmArtifactDocument,
): Promise<PushedVmArtifact> {
  const boot = document.volumes[0]!;
  const subject = await registry.getManifest(boot.digest);
  const layer = serialize(document);
  await registry.uploadBlobBytes(EMPTY.bytes);
  await registry.uploadBlobBytes(layer.bytes);
  const manifest = serialize({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.manifest,
    artifactType: VM_ARTIFACT_TYPE,
    config: { mediaType: EMPTY_MEDIA_TYPE, digest: EMPTY.digest, size: EMPTY.bytes.length },
    layers: [{ mediaType: VM_ARTIFACT_TYPE, digest: layer.digest, size: layer.bytes.length }],
    subject: {
      mediaType: subject.mediaType || MEDIA_TYPE.manifest,
      digest: subject.digest,
      size: subject.body.length,
    },
    annotations: {
      'org.opencontainers.image.title': `${document.source.namespace}/${document.source.name}`,
    },
  });
  const pushed = await pushReferrer(registry, subject.digest, manifest.bytes, {
    mediaType: MEDIA_TYPE.manifest,
    digest: manifest.digest,
    size: manifest.bytes.length,
    artifactType: VM_ARTIFACT_TYPE,
  });
  return { reference: `${registry.repository}@${pushed.digest}`, digest: pushed.digest };
}

/** Why a reference cannot be restored: one line for the user. */
export class NoVmArtifactError extends Error {
  override name = 'NoVmArtifactError';
}

/** Reads the artifact by its digest. */
export async function readVmArtifact(registry: RegistryClient, digest: string): Promise<VmArtifactDocument> {
  const manifest = JSON.parse((await registry.getManifest(digest)).body.toString('utf8')) as {
    artifactType?: string;
    layers?: { mediaType?: string; digest?: string }[];
  };
  const layer = manifest.layers?.find((l) => l.mediaType === VM_ARTIFACT_TYPE);
  if (manifest.artifactType !== VM_ARTIFACT_TYPE || !layer?.digest) {
    throw new NoVmArtifactError(`${registry.repository}@${digest} is not a ${VM_ARTIFACT_TYPE} artifact`);
  }
  const parsed = vmArtifactDocumentSchema.safeParse(
    JSON.parse((await registry.getBlob(layer.digest)).toString('utf8')),
  );
  if (!parsed.success) {
    throw new NoVmArtifactError(
      `${registry.repository}@${digest}: the VM definition does not parse: ${parsed.error.issues[0]?.message}`,
    );
  }
  return parsed.data;
}

/** The VM artifact attached to the image at `reference` (a tag or digest in the client's repository). */
export async function findVmArtifact(
  registry: RegistryClient,
  reference: string,
): Promise<{ digest: string; document: VmArtifactDocument }> {
  const image = await registry.getManifest(reference);
  const referrers = await listReferrers(registry, image.digest, VM_ARTIFACT_TYPE);
  // Several (the same image imaged twice is not possible; but be deterministic): the last listed.
  const found = referrers.at(-1);
  if (!found) {
    throw new NoVmArtifactError(
      `${registry.repository}:${reference} has no VM definition attached (no ${VM_ARTIFACT_TYPE} referrer); ` +
        'name the boot image (the bare tag) of a ServerImage',
    );
  }
  return { digest: found.digest, document: await readVmArtifact(registry, found.digest) };
}
