// Where a restore reads the VM definition from: a ServerImage (its recorded artifact, with
// the registry access its spec names) or a bare registry reference from any cluster (the
// artifact found through the referrers of the image, with access given on the command
// line). Either way the definition comes from the registry, and anything wrong (no such
// tag, no artifact, credentials refused) is one line before anything is created.
import { describeClientError } from '../../kube/client-error.js';
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { findVmArtifact, readVmArtifact, type VmArtifactDocument } from '../../export/vm-artifact.js';
import { credentialsFromSecret, RegistryClient, type Credentials } from '../../registry/index.js';
import { isNotFoundError } from '../api-error.js';
import { CliError } from '../exit-codes.js';
import type { StoredServerImage } from '../server-image-client.js';

export interface RegistryAccess {
  credentials?: Credentials;
  caPem?: string;
  insecure: boolean;
}

export interface RestoreSource {
  document: VmArtifactDocument;
  access: RegistryAccess;
  /** For messages: where the definition came from. */
  origin: string;
}

/** A ServerImage name cannot hold a slash; a registry reference always does. */
export const isRegistryReference = (source: string) => source.includes('/');

/** `host/repo:tag` or `host/repo@sha256:...` -> repository and tag-or-digest. */
export function splitReference(reference: string): { repository: string; reference: string } {
  const at = reference.indexOf('@');
  if (at > 0) return { repository: reference.slice(0, at), reference: reference.slice(at + 1) };
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  if (colon > slash) return { repository: reference.slice(0, colon), reference: reference.slice(colon + 1) };
  return { repository: reference, reference: 'latest' };
}

async function readSecret(core: CoreV1Api, namespace: string, name: string, what: string): Promise<V1Secret> {
  try {
    return await core.readNamespacedSecret({ namespace, name });
  } catch (err) {
    if (isNotFoundError(err)) throw new CliError(`Secret ${namespace}/${name} (${what}) not found`);
    throw err;
  }
}

async function caFromSecret(
  core: CoreV1Api,
  namespace: string,
  name: string,
  key = 'ca.crt',
): Promise<string> {
  const secret = await readSecret(core, namespace, name, 'registry CA');
  const data = secret.data?.[key];
  if (!data) throw new CliError(`Secret ${namespace}/${name} has no key ${key} (registry CA)`);
  return Buffer.from(data, 'base64').toString('utf8');
}

/** Runs a registry read, turning its failure into one line naming the reference. */
async function fromRegistry<T>(
  access: RegistryAccess,
  repository: string,
  what: string,
  read: (client: RegistryClient) => Promise<T>,
): Promise<T> {
  let client: RegistryClient;
  try {
    client = new RegistryClient({ repository, ...access, retry: { attempts: 2 } });
  } catch (err) {
    throw new CliError(`${what}: ${(err as Error).message}`);
  }
  try {
    return await read(client);
  } catch (err) {
    if (err instanceof CliError) throw err;
    const reason = (err as { reason?: string }).reason;
    const hint =
      reason === 'RegistryNotFound'
        ? 'no such image'
        : reason === 'RegistryUnauthorized' || reason === 'RegistryForbidden'
          ? 'the registry refused the credentials'
          : undefined;
    const why = describeClientError(err);
    throw new CliError(`${what}: ${hint ? `${hint} (${why})` : why}`);
  } finally {
    await client.close();
  }
}

export async function sourceFromServerImage(
  kubeConfig: KubeConfig,
  image: StoredServerImage,
): Promise<RestoreSource> {
  const { namespace, name } = image.metadata;
  const artifact = image.status?.vmArtifact;
  if (!artifact) {
    const phase = image.status?.phase ?? 'Queued';
    throw new CliError(
      phase === 'Active'
        ? `ServerImage ${namespace}/${name} has no VM definition recorded (made before restore support); restore it by hand`
        : `ServerImage ${namespace}/${name} is ${phase}, not Active: nothing to restore yet`,
    );
  }
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const { registry } = image.spec;
  const host = registry.repository.split('/')[0]!;
  const access: RegistryAccess = { insecure: registry.insecure ?? false };
  if (registry.credentialsSecretRef) {
    const secret = await readSecret(
      core,
      namespace,
      registry.credentialsSecretRef.name,
      'registry credentials',
    );
    access.credentials = credentialsFromSecret(secret, host);
  }
  if (registry.caBundleSecretRef) {
    access.caPem = await caFromSecret(
      core,
      namespace,
      registry.caBundleSecretRef.name,
      registry.caBundleSecretRef.key,
    );
  }
  const document = await fromRegistry(
    access,
    registry.repository,
    `ServerImage ${namespace}/${name}`,
    (client) => readVmArtifact(client, artifact.digest),
  );
  return { document, access, origin: `ServerImage ${namespace}/${name} (${artifact.reference})` };
}

export interface BareReferenceAccess {
  namespace: string;
  credentialsSecret?: string;
  caSecret?: string;
  insecure: boolean;
}

export async function sourceFromReference(
  kubeConfig: KubeConfig,
  reference: string,
  given: BareReferenceAccess,
): Promise<RestoreSource> {
  const { repository, reference: tagOrDigest } = splitReference(reference);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const access: RegistryAccess = { insecure: given.insecure };
  if (given.credentialsSecret) {
    const secret = await readSecret(core, given.namespace, given.credentialsSecret, 'registry credentials');
    access.credentials = credentialsFromSecret(secret, repository.split('/')[0]!);
  }
  if (given.caSecret) access.caPem = await caFromSecret(core, given.namespace, given.caSecret);
  const found = await fromRegistry(access, repository, reference, (client) =>
    findVmArtifact(client, tagOrDigest),
  );
  return { document: found.document, access, origin: `${reference} (${repository}@${found.digest})` };
}
