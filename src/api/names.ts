// Name grammars shared by the schema, the CEL rules and the code that builds references.

export const GROUP = 'serverimage.io';
export const VERSION = 'v1alpha1';

/** DNS-1123 subdomain, what Kubernetes allows as an object name (VirtualMachine, Secret). */
export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/** DNS-1123 label, what KubeVirt allows as a volume name. */
export const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

// OCI distribution reference grammar (distribution/reference): a registry host
// (name with a dot or `localhost`, or an IPv4 address, optional port) and at least
// one lowercase path component.
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domain = `(?:localhost|${domainComponent}(?:\\.${domainComponent})+)(?::[0-9]+)?`;
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
export const OCI_REPOSITORY = `^${domain}(?:/${pathComponent})+$`;

/** OCI tag grammar. */
export const OCI_TAG = '^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}$';

/** Nova createImage metadata keys (the `-` moved last so every regex engine reads it literally). */
export const NOVA_METADATA_KEY = '^[a-zA-Z0-9_:. -]{1,255}$';
export const NOVA_METADATA_MAX_ITEMS = 128;
