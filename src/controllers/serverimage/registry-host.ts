/** The registry host[:port] of a repository, lower-cased: what backoff and --allowed-registries key on. */
export const registryHostOf = (repository: string): string => repository.split('/')[0]!.toLowerCase();
