// Registry credentials from a Kubernetes Secret, as image pull secrets carry them:
// `kubernetes.io/dockerconfigjson` (.dockerconfigjson -> auths[host] with `auth` =
// base64("user:pass") or username/password) or `kubernetes.io/basic-auth`
// (username/password). Secret `data` values are base64, `stringData` values plain.
import { RegistryError } from './errors.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface SecretLike {
  type?: string;
  metadata?: { name?: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

interface DockerConfigEntry {
  auth?: string;
  username?: string;
  password?: string;
}

const DOCKER_HUB = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];

/** `https://host:5000/v1/` -> `host:5000`, lower-cased; Docker Hub's names -> `docker.io`. */
export function normalizeRegistryHost(key: string): string {
  const host = key
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  return DOCKER_HUB.includes(host) ? 'docker.io' : host;
}

function field(secret: SecretLike, key: string): string | undefined {
  const plain = secret.stringData?.[key];
  if (plain !== undefined) return plain;
  const encoded = secret.data?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
}

function invalid(secret: SecretLike, why: string): RegistryError {
  const name = secret.metadata?.name ? `Secret ${secret.metadata.name}` : 'the credentials Secret';
  return new RegistryError('InvalidCredentialsSecret', `${name}: ${why}`);
}

/** The credentials in a parsed docker config for `registryHost`, or undefined. */
export function credentialsFromDockerConfig(config: unknown, registryHost: string): Credentials | undefined {
  const auths = (config as { auths?: Record<string, DockerConfigEntry> } | null)?.auths;
  if (!auths || typeof auths !== 'object') return undefined;
  const wanted = normalizeRegistryHost(registryHost);
  const entry = Object.entries(auths).find(([key]) => normalizeRegistryHost(key) === wanted)?.[1];
  if (!entry) return undefined;
  if (entry.username !== undefined && entry.password !== undefined) {
    return { username: entry.username, password: entry.password };
  }
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

/**
 * Credentials for `registryHost` (host[:port]) from a Secret. Throws a RegistryError
 * (InvalidCredentialsSecret) naming what is wrong, never the values.
 */
export function credentialsFromSecret(secret: SecretLike, registryHost: string): Credentials {
  if (secret.type === 'kubernetes.io/basic-auth') {
    const username = field(secret, 'username');
    const password = field(secret, 'password');
    if (!username || password === undefined)
      throw invalid(secret, 'a basic-auth Secret needs username and password');
    return { username, password };
  }
  if (secret.type === 'kubernetes.io/dockerconfigjson') {
    const raw = field(secret, '.dockerconfigjson');
    if (raw === undefined) throw invalid(secret, 'it has no .dockerconfigjson key');
    let config: unknown;
    try {
      config = JSON.parse(raw);
    } catch {
      throw invalid(secret, '.dockerconfigjson is not valid JSON');
    }
    const found = credentialsFromDockerConfig(config, registryHost);
    if (!found) {
      const hosts = Object.keys((config as { auths?: object }).auths ?? {}).map(normalizeRegistryHost);
      throw invalid(
        secret,
        `.dockerconfigjson has no usable credentials for ${normalizeRegistryHost(registryHost)}` +
          ` (it has entries for: ${hosts.join(', ') || 'none'})`,
      );
    }
    return found;
  }
  throw invalid(
    secret,
    `type ${secret.type ?? '(none)'} is not supported; use kubernetes.io/dockerconfigjson or kubernetes.io/basic-auth`,
  );
}
