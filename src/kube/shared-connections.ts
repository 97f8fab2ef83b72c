// One connection pool per KubeConfig for every API call and watch, with one TLS context.
//
// Why: @kubernetes/client-node 2.0.1 builds a new undici Agent for every request
// (KubeConfig.applySecurityAuthentication -> createDispatcher; only the https.Agent of its
// older path is cached upstream). Each API call then opens a connection of its
// own: a TLS handshake (HTTP/2 where the API server offers it), a SecureContext holding the
// cluster's CA and the client's certificate and key, OpenSSL's and the session's buffers,
// all memory outside V8's heap that is freed only once V8 collects the JavaScript objects
// holding it, which the operator's small heap gives V8 little reason to do. The operator
// makes tens of calls per ServerImage: its RSS grew by about 1 MiB for each ServerImage
// handled (docs/benchmarks.md, "The operator's memory").
//
// How: the library's private createDispatcher is wrapped, so that requests with the same
// TLS settings (createDispatcherOptions, public) share one dispatcher. For a direct
// connection (no proxy) it is made here as the library makes it, plus one SecureContext
// for all its connections (given only `ca`, `cert` and `key`, tls.connect builds a new one
// per connection). When the settings change (an exec plugin's rotated client certificate)
// a new dispatcher is made and the old one closed once its requests, watches included, are
// done. test/unit/kube/shared-connections.test.ts checks the pinned client-node.
import { createHash } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, type Dispatcher } from 'undici';

type Cluster = Parameters<KubeConfig['createDispatcherOptions']>[0];
type AgentOptions = Parameters<KubeConfig['createDispatcherOptions']>[1];
type CreateDispatcher = (cluster: Cluster, agentOptions: AgentOptions) => Dispatcher | undefined;

const shared = new WeakSet<KubeConfig>();

/** Makes every request through `kubeConfig` share one connection pool; returns it. */
export function shareConnections(kubeConfig: KubeConfig): KubeConfig {
  if (shared.has(kubeConfig)) return kubeConfig;
  const target = kubeConfig as unknown as { createDispatcher?: CreateDispatcher };
  const create = target.createDispatcher;
  // Loud on a client-node that no longer has the seam: review this file when upgrading.
  if (typeof create !== 'function') {
    throw new Error(
      '@kubernetes/client-node has no KubeConfig.createDispatcher: see src/kube/shared-connections.ts',
    );
  }
  let current: { key: string; dispatcher: Dispatcher | undefined } | undefined;
  target.createDispatcher = (cluster, agentOptions) => {
    const options = kubeConfig.createDispatcherOptions(cluster, agentOptions);
    const key = fingerprint(options);
    if (current?.key === key) return current.dispatcher;
    const previous = current?.dispatcher;
    current = {
      key,
      dispatcher:
        options.type === 'agent' ? direct(options.connect) : create.call(kubeConfig, cluster, agentOptions),
    };
    // Requests under way (watches too) finish on the old one; nothing new goes to it.
    void previous?.close().catch(() => undefined);
    return current.dispatcher;
  };
  shared.add(kubeConfig);
  return kubeConfig;
}

type ConnectOptions = Extract<
  ReturnType<KubeConfig['createDispatcherOptions']>,
  { type: 'agent' }
>['connect'];

/** The library's direct Agent, its connections sharing one SecureContext. */
function direct(connect: ConnectOptions): Dispatcher {
  const { ca, cert, key, pfx, passphrase, ...rest } = connect;
  const secureContext = createSecureContext({ ca, cert, key, pfx, passphrase });
  return new Agent({ connect: { ...rest, secureContext } });
}

/** A stable text for TLS options: key material as its hash, so none is kept as text. */
function fingerprint(value: unknown): string {
  if (value === undefined) return 'u';
  if (typeof value === 'string') return `s${hash(value)}`;
  if (value instanceof Uint8Array) return `b${hash(value)}`;
  if (Array.isArray(value)) return `[${value.map(fingerprint).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${k}:${fingerprint(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function hash(value: string | Uint8Array): string {
  return createHash('sha256').update(value).digest('base64');
}
