// Which registries a tenant may push to is the platform team's call (--allowed-registries):
// the operator's network position must not become a way for a tenant to reach hosts it
// cannot reach itself, so this is checked before any request leaves the operator.
//
// A pattern is a host (harbor.example.com: any port), a host:port (that port only), or
// *.example.com (any subdomain, not example.com itself). Hosts compare case-insensitively.

/** True when `registryHost` ("host" or "host:port") matches a pattern, or there are none. */
export function registryAllowed(registryHost: string, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return true;
  const { host, port } = splitHost(registryHost.toLowerCase());
  return patterns.some((pattern) => {
    const p = splitHost(pattern.toLowerCase());
    if (p.port !== undefined && p.port !== port) return false;
    if (p.host.startsWith('*.')) return host.endsWith(p.host.slice(1)) && host.length > p.host.length - 1;
    return host === p.host;
  });
}

function splitHost(hostPort: string): { host: string; port?: string } {
  // [::1]:5000 style IPv6 literals keep their brackets.
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort);
  return match ? { host: match[1]!, port: match[2] } : { host: hostPort };
}
