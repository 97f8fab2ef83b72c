// Cluster DNS and Service routing for the operator under test, the smallest stand-in
// that leaves its code as it is (it dials links.internal, https://SERVICE.NS.svc/...):
//  - every Service gets a loopback address of its own (127.<random>.<n>), and a TCP
//    fault proxy (../export-proxy.ts) listens there on the Service's port (443 for an
//    export) and forwards to the Ready Pod its selector picks (the kubelet stand-in's
//    local port for the container's targetPort);
//  - names `SERVICE.NS.svc` (and `.svc.cluster.local`) resolve to that address through
//    node:dns's lookup, which node:net calls for every connection by host name. The
//    hook is installed in this process only: the in-process operator of the tests. The
//    TLS name check is the real one (the server's certificate names the Service);
//  - `onHosts` gets every change of those names, for the hosts file that child
//    processes resolve them through (cluster-dns.ts);
//  - with a real node (`endpointSlices`), a Service whose Pod the stand-in does not run
//    is forwarded to the ready endpoint of its EndpointSlices (kube-controller-manager's
//    endpointslice controller: the Pod's IP in the node's Pod network and its port), as
//    kube-proxy would; the proxy's own error answers use the Pod's certificate, read from
//    the Secret mounted at its /cert.
import dns from 'node:dns';
import { randomInt } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { Obj } from '../api.js';
import type { KeyPair } from '../../tls.js';
import { ExportFaults } from '../export-faults.js';
import { startExportProxy, type ExportProxy } from '../export-proxy.js';
import type { Logger } from '../work-queue.js';
import type { Kubelet, RunningPod } from './kubelet.js';
import { startWatching } from './watch.js';

interface Route {
  uid: string;
  address: string;
  proxies: ExportProxy[];
}

export interface ServiceRoutingOptions {
  kc: k8s.KubeConfig;
  kubelet: Kubelet;
  /** The objects whose annotations carry a Service's faults (its export, then the VM). */
  faultSources(service: k8s.V1Service): Array<Obj | undefined>;
  /** A connection through the Service carried more than 16 KiB from the server (fault-vm-change's export-read). */
  onRead?(service: k8s.V1Service): void;
  /** The names routed now (`NAME.NS.svc` -> address), after every change. */
  onHosts?(byHost: ReadonlyMap<string, string>): void;
  /** Route to EndpointSlices' endpoints on nodes other than the stand-in's (a real node's Pods). */
  endpointSlices?: { standInNode: string };
  log: Logger;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: unknown, family?: number) => void;
// Kept on the `dns` module itself: jest gives each test file its own copy of this module
// but one shared `dns`, so a later file's resolvers must go where the installed hook looks.
const shared = dns as unknown as {
  clusterDnsResolvers?: Set<(host: string) => string | undefined>;
  clusterDnsOriginal?: typeof dns.lookup;
};
shared.clusterDnsOriginal ??= dns.lookup;
shared.clusterDnsResolvers ??= new Set();
const original = shared.clusterDnsOriginal;
const resolvers = shared.clusterDnsResolvers;

/** Installs the lookup hook once per process; each routing adds its resolver. */
function hookLookup(): void {
  if ((dns.lookup as { clusterDns?: boolean }).clusterDns) return;
  const hooked = function lookup(host: string, options: unknown, callback?: LookupCallback) {
    const cb = (typeof options === 'function' ? options : callback) as LookupCallback;
    const opts = (typeof options === 'object' && options ? options : {}) as dns.LookupOptions;
    for (const resolve of resolvers) {
      const address = resolve(host);
      if (address) {
        process.nextTick(() => (opts.all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)));
        return;
      }
    }
    return (original as (...a: unknown[]) => void).call(dns, host, options, callback);
  };
  (hooked as { clusterDns?: boolean }).clusterDns = true;
  (dns as { lookup: unknown }).lookup = hooked;
}

const selects = (selector: Record<string, string> | undefined, pod: RunningPod) =>
  !!selector &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => pod.labels[k] === v);

export class ServiceRouting {
  private readonly informer: k8s.Informer<k8s.V1Service> & k8s.ObjectCache<k8s.V1Service>;
  private readonly routes = new Map<string, Route>();
  private stopWatching: () => Promise<void> = async () => undefined;
  private readonly byHost = new Map<string, string>();
  /** 127.B.C.x: one random /24 per bed, so that beds on one machine rarely meet. */
  private readonly prefix = `127.${randomInt(2, 250)}.${randomInt(1, 250)}`;
  private next = 1;
  private readonly resolver = (host: string) => this.byHost.get(host.replace(/\.cluster\.local\.?$/, ''));
  private chain = Promise.resolve();
  private readonly slices?: k8s.Informer<k8s.V1EndpointSlice> & k8s.ObjectCache<k8s.V1EndpointSlice>;
  /** `NS/SERVICE` -> its ready endpoint on a real node, with the Pod's serving key pair. */
  private readonly endpoints = new Map<string, { host: string; port: number; keyPair?: KeyPair }>();
  private readonly core: k8s.CoreV1Api;

  constructor(private readonly options: ServiceRoutingOptions) {
    const core = options.kc.makeApiClient(k8s.CoreV1Api);
    this.core = core;
    this.informer = k8s.makeInformer(options.kc, '/api/v1/services', () =>
      core.listServiceForAllNamespaces(),
    );
    if (options.endpointSlices) {
      const discovery = options.kc.makeApiClient(k8s.DiscoveryV1Api);
      this.slices = k8s.makeInformer(options.kc, '/apis/discovery.k8s.io/v1/endpointslices', () =>
        discovery.listEndpointSliceForAllNamespaces(),
      );
      const onSlice = (slice: k8s.V1EndpointSlice) => {
        const service = slice.metadata?.labels?.['kubernetes.io/service-name'];
        if (service) this.enqueue(() => this.syncEndpoints(slice.metadata!.namespace!, service));
      };
      this.slices.on('add', onSlice);
      this.slices.on('update', onSlice);
      this.slices.on('delete', onSlice);
    }
    const sync = (s: k8s.V1Service) => this.enqueue(() => this.ensure(s));
    this.informer.on('add', sync);
    this.informer.on('update', sync);
    this.informer.on('delete', (s) => this.enqueue(() => this.remove(s)));
  }

  async start(): Promise<void> {
    hookLookup();
    resolvers.add(this.resolver);
    const stops = [await startWatching(this.informer as k8s.Informer<k8s.KubernetesObject>)];
    if (this.slices) stops.push(await startWatching(this.slices as k8s.Informer<k8s.KubernetesObject>));
    this.stopWatching = async () => {
      for (const s of stops) await s();
    };
  }

  /** The address a Service's name resolves to (undefined: not routed). */
  addressOf(namespace: string, name: string): string | undefined {
    return this.byHost.get(`${name}.${namespace}.svc`);
  }

  async stop(): Promise<void> {
    resolvers.delete(this.resolver);
    await this.stopWatching();
    await this.chain;
    await Promise.all([...this.routes.values()].flatMap((r) => r.proxies.map((p) => p.stop())));
    this.routes.clear();
    this.byHost.clear();
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((err) => this.options.log('service routing', err));
  }

  /** Where a connection to the Service goes now: the stand-in's Pod, else a real node's. */
  private upstreamOf(service: k8s.V1Service): { host: string; port: number; keyPair?: KeyPair } | undefined {
    const pod = this.podFor(service);
    if (pod?.port)
      return {
        host: '127.0.0.1',
        port: pod.port,
        keyPair: pod.certPem && pod.keyPem ? { certPem: pod.certPem, keyPem: pod.keyPem } : undefined,
      };
    return this.endpoints.get(`${service.metadata!.namespace}/${service.metadata!.name}`);
  }

  /** The first ready endpoint of the Service's slices on a node that is not the stand-in's. */
  private async syncEndpoints(namespace: string, service: string): Promise<void> {
    const key = `${namespace}/${service}`;
    const standIn = this.options.endpointSlices!.standInNode;
    let found: { host: string; port: number; pod: string } | undefined;
    for (const slice of this.slices!.list(namespace)) {
      if (slice.metadata?.labels?.['kubernetes.io/service-name'] !== service) continue;
      const port = slice.ports?.[0]?.port;
      const endpoint = (slice.endpoints ?? []).find(
        (e) => e.conditions?.ready && e.nodeName !== standIn && e.targetRef?.kind === 'Pod',
      );
      if (port && endpoint?.addresses[0])
        found = { host: endpoint.addresses[0], port, pod: endpoint.targetRef!.name! };
    }
    if (!found) {
      this.endpoints.delete(key);
      return;
    }
    const current = this.endpoints.get(key);
    if (current?.host === found.host && current.port === found.port) return;
    this.endpoints.set(key, {
      host: found.host,
      port: found.port,
      keyPair: await this.keyPairOf(namespace, found.pod),
    });
  }

  /** The serving certificate an exporter Pod was given: the Secret volume mounted at /cert. */
  private async keyPairOf(namespace: string, podName: string): Promise<KeyPair | undefined> {
    const pod = await this.core.readNamespacedPod({ namespace, name: podName }).catch(() => undefined);
    const mount = pod?.spec?.containers[0]?.volumeMounts?.find((m) => m.mountPath === '/cert');
    const secretName = pod?.spec?.volumes?.find((v) => v.name === mount?.name)?.secret?.secretName;
    if (!secretName) return undefined;
    const secret = await this.core
      .readNamespacedSecret({ namespace, name: secretName })
      .catch(() => undefined);
    const text = (k: string) => secret?.data?.[k] && Buffer.from(secret.data[k], 'base64').toString();
    const certPem = text('tls.crt');
    const keyPem = text('tls.key');
    return certPem && keyPem ? { certPem, keyPem } : undefined;
  }

  private podFor(service: k8s.V1Service): RunningPod | undefined {
    return this.options.kubelet
      .pods()
      .find(
        (p) => p.namespace === service.metadata!.namespace && p.ready && selects(service.spec?.selector, p),
      );
  }

  private async ensure(service: k8s.V1Service): Promise<void> {
    const { namespace, name, uid } = service.metadata as { namespace: string; name: string; uid: string };
    const host = `${name}.${namespace}.svc`;
    if (this.routes.get(host)?.uid === uid) return;
    await this.remove(service);
    // The API server's own Service (default/kubernetes) has no selector: not routed.
    if (!service.spec?.selector) return;
    const faults = new ExportFaults(() =>
      this.options.faultSources(this.informer.get(name, namespace) ?? service),
    );
    for (let attempt = 0; ; attempt++) {
      const address = `${this.prefix}.${(this.next++ % 250) + 1}`;
      try {
        const proxies: ExportProxy[] = [];
        for (const port of service.spec.ports ?? []) {
          proxies.push(
            await startExportProxy({
              listen: { host: address, port: port.port },
              upstream: () => this.upstreamOf(this.informer.get(name, namespace) ?? service),
              keyPair: () => this.upstreamOf(service)?.keyPair,
              faultsFor: () => faults.forConnection(),
              onRead: () => this.options.onRead?.(this.informer.get(name, namespace) ?? service),
            }),
          );
        }
        this.routes.set(host, { uid, address, proxies });
        this.byHost.set(host, address);
        this.options.onHosts?.(this.byHost);
        return;
      } catch (err) {
        // Another bed on this machine holds that address and port: take the next one.
        if (attempt > 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  private async remove(service: k8s.V1Service): Promise<void> {
    const host = `${service.metadata!.name}.${service.metadata!.namespace}.svc`;
    const route = this.routes.get(host);
    if (!route) return;
    this.routes.delete(host);
    this.byHost.delete(host);
    this.options.onHosts?.(this.byHost);
    await Promise.all(route.proxies.map((p) => p.stop()));
  }
}
