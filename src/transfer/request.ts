// What a transfer Pod is asked to do: read each volume from the VirtualMachineExport and
// push it to the registry. The operator writes it into the Pod's environment as JSON; the
// Pod reads it once at start. It holds nothing secret: the registry credentials, the
// registry's CA bundle and the export token reach the Pod only as Secret volumes, mounted
// at the paths below (the export's CA is public: it is in the export's status).
import { z } from 'zod';
import { imageFormatSchema } from '../api/serverimage.js';

/** The environment variable holding the request. */
export const REQUEST_ENV = 'SERVERIMAGE_TRANSFER_REQUEST';

/** Where the Pod finds what its Secret volumes hold. */
export const MOUNTS = {
  /** The ServerImage's registry credentials Secret (dockerconfigjson or basic-auth), as files. */
  registryCredentials: '/var/run/serverimage/registry-credentials',
  /** The registry's CA bundle (PEM), the one key of caBundleSecretRef. */
  registryCa: '/var/run/serverimage/registry-ca',
  /** The export token Secret the operator made for the VirtualMachineExport. */
  exportToken: '/var/run/serverimage/export-token',
} as const;
/** File names inside those folders. */
export const REGISTRY_CA_FILE = 'ca.crt';
export const EXPORT_TOKEN_FILE = 'token';

/** The port of the Pod's progress endpoint (GET /progress, plain HTTP, no credentials in it). */
export const PROGRESS_PORT = 8090;
export const PROGRESS_PATH = '/progress';

/** A layer a failed earlier attempt completed (pushDiskImage's UploadedLayer): not sent again. */
export const uploadedLayerSchema = z.object({
  digest: z.string(),
  size: z.number().int().nonnegative(),
  diffId: z.string(),
  diskSize: z.number().int().nonnegative(),
  diskFormat: z.enum(['raw', 'qcow2']),
  fileSize: z.number().int().nonnegative(),
  diskSha256: z.string().optional(),
});

export const transferRequestSchema = z.object({
  version: z.literal(1),
  /** `host[:port]/path` */
  repository: z.string().min(1),
  /** Plain HTTP to the registry (labs only). */
  insecure: z.boolean().default(false),
  /** The export's CA bundle (PEM), from its status links. */
  exportCaPem: z.string().min(1),
  volumes: z.array(z.object({ volume: z.string().min(1), tag: z.string().min(1), url: z.url() })).min(1),
  format: imageFormatSchema,
  imageName: z.string(),
  metadata: z.record(z.string(), z.string()).optional(),
  sourceVm: z.object({ namespace: z.string(), name: z.string(), uid: z.string() }),
  configLabels: z.record(z.string(), z.string()).optional(),
  /** The image's creation time (RFC 3339): the same on every attempt, so the layer is the same. */
  created: z.iso.datetime({ offset: true }),
  /** Layout chunked: earlier backups (manifest digests) whose chunks are reused. */
  previousBackups: z.array(z.string()).optional(),
  /** An upload session a predecessor left open: cancelled before anything else. */
  staleUploadSession: z.string().optional(),
  /** Layers completed by a failed earlier attempt, by volume. */
  uploadedLayers: z.record(z.string(), uploadedLayerSchema).optional(),
  /** Least time between two progress updates. */
  progressIntervalMs: z.number().int().positive().default(1000),
});

export type TransferRequest = z.infer<typeof transferRequestSchema>;
export type TransferRequestInput = z.input<typeof transferRequestSchema>;

export class TransferRequestError extends Error {
  override name = 'TransferRequestError';
}

export function encodeRequest(request: TransferRequestInput): string {
  return JSON.stringify(transferRequestSchema.parse(request));
}

/** The request from its JSON; a TransferRequestError naming the fields that are wrong. */
export function decodeRequest(text: string | undefined): TransferRequest {
  if (!text) throw new TransferRequestError(`${REQUEST_ENV} is not set: this program runs in a transfer Pod`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new TransferRequestError(`${REQUEST_ENV} is not valid JSON`);
  }
  const parsed = transferRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`);
    throw new TransferRequestError(`${REQUEST_ENV} is not a transfer request: ${fields.join('; ')}`);
  }
  return parsed.data;
}
