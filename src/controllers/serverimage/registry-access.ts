// A registry client for one ServerImage's repository, with the credentials and CA that
// its spec points at. Secrets are read when needed, never watched or cached: the
// operator reads only the Secrets a ServerImage names.
import type { CoreV1Api } from '@kubernetes/client-node';
import { ApiCallError, type Logger, isNotFound } from '../../kube/index.js';
import { RegistryClient, credentialsFromSecret, type RetryPolicy } from '../../registry/index.js';
import type { ServerImageObject } from './types.js';

/** A Secret the spec names is missing: maybe not applied yet (GitOps ordering), so retried. */
export class SecretNotFoundError extends Error {
  override name = 'SecretNotFoundError';
  readonly reason = 'CredentialsNotFound';
  readonly retryable = true;
}

async function readSecret(core: CoreV1Api, namespace: string, name: string, purpose: string) {
  try {
    return await core.readNamespacedSecret({ namespace, name });
  } catch (err) {
    if (isNotFound(err)) throw new SecretNotFoundError(`Secret ${namespace}/${name} (${purpose}) not found`);
    throw new ApiCallError(`reading Secret ${namespace}/${name} (${purpose})`, err);
  }
}

export async function registryClientFor(
  core: CoreV1Api,
  si: ServerImageObject,
  repository: string,
  logger?: Logger,
  retry?: Partial<RetryPolicy>,
): Promise<RegistryClient> {
  const { registry } = si.spec;
  const { namespace } = si.metadata;
  const host = repository.split('/')[0]!;
  const credentials = registry.credentialsSecretRef
    ? credentialsFromSecret(
        await readSecret(core, namespace, registry.credentialsSecretRef.name, 'registry credentials'),
        host,
      )
    : undefined;
  let caPem: string | undefined;
  if (registry.caBundleSecretRef) {
    const { name, key = 'ca.crt' } = registry.caBundleSecretRef;
    const secret = await readSecret(core, namespace, name, 'registry CA bundle');
    const data = secret.data?.[key];
    if (!data)
      throw new SecretNotFoundError(`Secret ${namespace}/${name} has no key ${key} (registry CA bundle)`);
    caPem = Buffer.from(data, 'base64').toString();
  }
  return new RegistryClient({ repository, credentials, caPem, insecure: registry.insecure, logger, retry });
}
