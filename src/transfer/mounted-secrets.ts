// The transfer's secrets, read from the Pod's Secret volumes (request.ts names the paths):
// the registry credentials as the ServerImage's Secret holds them (a dockerconfigjson or a
// basic-auth Secret: each key is a file), the registry's CA bundle, the export token. The
// same parser as the operator's (credentialsFromSecret), so both read a Secret alike.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { credentialsFromSecret, type Credentials } from '../registry/index.js';
import { EXPORT_TOKEN_FILE, MOUNTS, REGISTRY_CA_FILE } from './request.js';

export interface TransferSecrets {
  credentials?: Credentials;
  registryCaPem?: string;
  exportToken: string;
}

export class MountedSecretError extends Error {
  override name = 'MountedSecretError';
}

const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : undefined);

/** What the mounts hold, for `registryHost`; a MountedSecretError names a missing file. */
export function readMountedSecrets(registryHost: string, mounts: typeof MOUNTS = MOUNTS): TransferSecrets {
  const exportToken = read(path.join(mounts.exportToken, EXPORT_TOKEN_FILE))?.trim();
  if (!exportToken)
    throw new MountedSecretError(
      `no export token in ${path.join(mounts.exportToken, EXPORT_TOKEN_FILE)} (the export token Secret's volume)`,
    );
  return {
    exportToken,
    credentials: registryCredentials(mounts.registryCredentials, registryHost),
    registryCaPem: read(path.join(mounts.registryCa, REGISTRY_CA_FILE)),
  };
}

/** The credentials Secret's files as the Secret they came from: its type is told by its keys. */
function registryCredentials(dir: string, registryHost: string): Credentials | undefined {
  if (!existsSync(dir)) return undefined;
  const dockerConfig = read(path.join(dir, '.dockerconfigjson'));
  const secret =
    dockerConfig !== undefined
      ? { type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': dockerConfig } }
      : {
          type: 'kubernetes.io/basic-auth',
          stringData: {
            ...optional('username', read(path.join(dir, 'username'))),
            ...optional('password', read(path.join(dir, 'password'))),
          },
        };
  return credentialsFromSecret({ ...secret, metadata: { name: `mounted at ${dir}` } }, registryHost);
}

const optional = (key: string, value: string | undefined) => (value === undefined ? {} : { [key]: value });
