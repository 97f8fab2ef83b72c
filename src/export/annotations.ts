// Manifest annotations of a pushed disk image. Standard keys from the OCI
// image spec where one fits; our own under `serverimage.io/`:
//
//   org.opencontainers.image.created       when the image was made (RFC 3339)
//   org.opencontainers.image.title         the image name (Nova createImage "name")
//   serverimage.io/source.namespace        namespace of the VirtualMachine
//   serverimage.io/source.name             name of the VirtualMachine
//   serverimage.io/source.uid              uid of the VirtualMachine
//   serverimage.io/volume                  the VM volume this disk came from
//   serverimage.io/metadata.<key>          one per user metadata entry (Nova createImage "metadata")
//
// Nova metadata keys may hold spaces and colons (^[a-zA-Z0-9-_:. ]{1,255}$).
// OCI keys should be reverse-domain names, so <key> keeps [A-Za-z0-9._-] and
// percent-encodes every other byte of its UTF-8 form ("os distro:x" becomes
// "os%20distro%3Ax"); metadataKeyOf() reverses it. Values are kept as they are.

export const ANNOTATION = {
  created: 'org.opencontainers.image.created',
  title: 'org.opencontainers.image.title',
  sourceNamespace: 'serverimage.io/source.namespace',
  sourceName: 'serverimage.io/source.name',
  sourceUid: 'serverimage.io/source.uid',
  volume: 'serverimage.io/volume',
} as const;

const METADATA_PREFIX = 'serverimage.io/metadata.';

export interface ImageAnnotationInput {
  created: Date;
  imageName: string;
  source?: { namespace?: string; name?: string; uid?: string };
  volume?: string;
  metadata?: Record<string, string>;
}

export function imageAnnotations(input: ImageAnnotationInput): Record<string, string> {
  const annotations: Record<string, string> = {
    [ANNOTATION.created]: input.created.toISOString(),
    [ANNOTATION.title]: input.imageName,
  };
  const optional: [string, string | undefined][] = [
    [ANNOTATION.sourceNamespace, input.source?.namespace],
    [ANNOTATION.sourceName, input.source?.name],
    [ANNOTATION.sourceUid, input.source?.uid],
    [ANNOTATION.volume, input.volume],
  ];
  for (const [key, value] of optional) if (value !== undefined) annotations[key] = value;
  for (const [key, value] of Object.entries(input.metadata ?? {}))
    annotations[metadataAnnotationKey(key)] = value;
  return annotations;
}

export function metadataAnnotationKey(metadataKey: string): string {
  let encoded = '';
  for (const byte of Buffer.from(metadataKey, 'utf8')) {
    const char = String.fromCharCode(byte);
    encoded += /[A-Za-z0-9._-]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return METADATA_PREFIX + encoded;
}

/** The user metadata key behind an annotation key, or undefined if it is not one of ours. */
export function metadataKeyOf(annotationKey: string): string | undefined {
  if (!annotationKey.startsWith(METADATA_PREFIX)) return undefined;
  return decodeURIComponent(annotationKey.slice(METADATA_PREFIX.length));
}

/** The user metadata recorded in a manifest's annotations. */
export function metadataOf(annotations: Record<string, string>): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(annotations)) {
    const metadataKey = metadataKeyOf(key);
    if (metadataKey !== undefined) metadata[metadataKey] = value;
  }
  return metadata;
}
