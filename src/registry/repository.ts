// A repository as users write it, `host[:port]/path/name`, split into the registry's
// origin and the repository name used in /v2/<name>/ URLs.

export interface RepositoryAddress {
  /** host[:port] as written (lower-cased). */
  host: string;
  /** Repository name, e.g. "vm-images/web-01". */
  name: string;
  /** "https://host:port" or "http://host:port". */
  origin: string;
}

export function parseRepository(repository: string, insecure = false): RepositoryAddress {
  const slash = repository.indexOf('/');
  if (slash <= 0 || slash === repository.length - 1) {
    throw new Error(
      `repository "${repository}" must look like host[:port]/path (for example registry.example.com/vm/web)`,
    );
  }
  const host = repository.slice(0, slash).toLowerCase();
  const name = repository.slice(slash + 1);
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(name)) {
    throw new Error(
      `repository name "${name}" is not a valid OCI repository name (lower case, digits, . _ - /)`,
    );
  }
  const origin = `${insecure ? 'http' : 'https'}://${host}`;
  return { host, name, origin };
}
