// The OCI image around the disk layer: an image config (what `rootfs.diff_ids`
// a runtime verifies after unpacking) and a manifest pointing at config and
// layer. Serialised once, so the bytes pushed are the bytes digested.
import { createHash } from 'node:crypto';
import type { Compression } from './parallel-compress.js';

export const MEDIA_TYPE = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: {
    gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
    zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  } satisfies Record<Compression, string>,
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ImageConfigInput {
  /** GOARCH-style name; containerDisks are usually amd64 or arm64. */
  architecture: string;
  os?: string;
  created: Date;
  diffIds: string[];
  /**
   * Image labels, also written as `config.Env` entries (KEY=value, the label name upper-cased
   * with . / - as _), the way kubevirt/containerdisks records instancetype hints.
   */
  labels?: Record<string, string>;
}

/** A JSON document with its exact bytes and their digest. */
export interface Serialized {
  bytes: Buffer;
  digest: string;
}

export function serialize(document: unknown): Serialized {
  const bytes = Buffer.from(JSON.stringify(document), 'utf8');
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

export function imageConfig(input: ImageConfigInput): Serialized {
  return serialize({
    created: input.created.toISOString(),
    architecture: input.architecture,
    os: input.os ?? 'linux',
    config: runtimeConfig(input.labels),
    rootfs: { type: 'layers', diff_ids: input.diffIds },
    history: [{ created: input.created.toISOString(), created_by: 'serverimage-operator' }],
  });
}

function runtimeConfig(labels: Record<string, string> | undefined): object {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return {};
  return {
    Env: entries.map(([key, value]) => `${key.replace(/[./-]/g, '_').toUpperCase()}=${value}`),
    Labels: Object.fromEntries(entries),
  };
}

export function imageManifest(
  config: Descriptor,
  layers: Descriptor[],
  annotations: Record<string, string>,
): Serialized {
  return serialize({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.manifest,
    config,
    layers,
    annotations,
  });
}
