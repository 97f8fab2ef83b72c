// Cluster DNS and Service routing for the operator under test, the smallest stand-in
// that leaves its code as it is (it dials links.internal, https://SERVICE.NS.svc/...),
// kept for the faults the tests inject in front of an exporter:
//  - every Service gets a loopback address of its own (127.<random>.<n>), and a TCP
//    fault proxy (../export-proxy.ts) listens there on the Service's port (443 for an
//    export) and forwards to the Service's server: the kubelet stand-in's Pod (its local
//    port), else, with a real node (`clusterDns`), the Service's ClusterIP as the node's
//    CoreDNS answers for `NAME.NS.svc.cluster.local`, asked on every connection, which
//    the node's kube-proxy forwards to a ready endpoint (../../node/: the host routes the
//    Service range to the node);
//  - names `SERVICE.NS.svc` (and `.svc.cluster.local`) resolve to that address through
//    node:dns's lookup, which node:net calls for every connection by host name. The
//    hook is installed in this process only: the in-process operator of the tests. The
//    TLS name check is the real one (the server's certificate names the Service);
//  - `onHosts` gets every change of those names, for the hosts file that child
//    processes resolve them through (cluster-dns.ts);
//  - the proxy's own error answers use the server's certificate: the stand-in's Pod's, or
//    a real Pod's, read from the Secret mounted at its /cert;
//  - with a real node (`podRoutes`), an export's Service is the same seam for the node's
//    Pods (a transfer Pod dials https://virt-export-NAME.NS.svc through CoreDNS and
//    kube-proxy): a second proxy, sharing the first one's faults, listens on the host's end
//    of the node's link (a free port), and a DNAT rule first in the node's nat PREROUTING
//    sends a packet that comes in from the Pod bridge to the Service's ClusterIP and port
//    there, before kube-proxy's KUBE-SERVICES sees it. The host proxy's own connection to
//    the ClusterIP comes in on the node's link, not the bridge, so it goes on to kube-proxy.
//    Immediate, unlike an override in CoreDNS (its cache, its reload); removed with the
//    Service.
import dns, { promises as dnsPromises } from 'node:dns';
import { randomInt } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { KeyPair } from '../../tls.js';
import type { NodeNetwork } from '../../node/netns.js';
import { deleteRule, insertRule, type NodeRule } from '../../node/iptables.js';
import { VM_EXPORT, type Obj } from '../api.js';
import { ExportFaults } from '../export-faults.js';
import { startExportProxy, type ExportProxy } from '../export-proxy.js';
import type { Logger } from '../work-queue.js';
import type { Kubelet, RunningPod } from './kubelet.js';
import { startWatching } from './watch.js';

interface Route {
  uid: string;
  address: string;
  proxies: ExportProxy[];
  /** The node's DNAT rules that send its Pods through `proxies` (podRoutes). */
  rules: NodeRule[];
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
  /** A real node's kube-dns: Services the stand-in does not serve go to their ClusterIP, looked up there. */
  clusterDns?: { server: string };
  /** A real node whose Pods reach export Services through the fault proxy too (above). */
  podRoutes?: { network: NodeNetwork; bridge: string };
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
  private readonly clusterResolver?: dnsPromises.Resolver;
  private readonly core: k8s.CoreV1Api;

  constructor(private readonly options: ServiceRoutingOptions) {
    const core = options.kc.makeApiClient(k8s.CoreV1Api);
    this.core = core;
    this.informer = k8s.makeInformer(options.kc, '/api/v1/services', () =>
      core.listServiceForAllNamespaces(),
    );
    if (options.clusterDns) {
      this.clusterResolver = new dnsPromises.Resolver({ timeout: 2000, tries: 2 });
      this.clusterResolver.setServers([options.clusterDns.server]);
    }
    const sync = (s: k8s.V1Service) => this.enqueue(() => this.ensure(s));
    this.informer.on('add', sync);
    this.informer.on('update', sync);
    this.informer.on('delete', (s) => this.enqueue(() => this.remove(s)));
  }

  async start(): Promise<void> {
    hookLookup();
    resolvers.add(this.resolver);
    this.stopWatching = await startWatching(this.informer as k8s.Informer<k8s.KubernetesObject>);
  }

  /** The address a Service's name resolves to (undefined: not routed). */
  addressOf(namespace: string, name: string): string | undefined {
    return this.byHost.get(`${name}.${namespace}.svc`);
  }

  async stop(): Promise<void> {
    resolvers.delete(this.resolver);
    await this.stopWatching();
    await this.chain;
    await Promise.all([...this.routes.values()].map((r) => this.release(r)));
    this.routes.clear();
    this.byHost.clear();
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((err) => this.options.log('service routing', err));
  }

  /** Where a connection to the Service's `port` goes now: the stand-in's Pod, else its ClusterIP. */
  private async upstreamOf(
    service: k8s.V1Service,
    port: number,
  ): Promise<{ host: string; port: number } | undefined> {
    const pod = this.podFor(service);
    if (pod?.port) return { host: '127.0.0.1', port: pod.port };
    if (!this.clusterResolver) return undefined;
    const { name, namespace } = service.metadata as { name: string; namespace: string };
    const [address] = await this.clusterResolver
      .resolve4(`${name}.${namespace}.svc.cluster.local`)
      .catch((err: unknown) => {
        this.options.log(`cluster DNS: ${name}.${namespace}.svc`, err);
        return [];
      });
    return address ? { host: address, port } : undefined;
  }

  /** The certificate of the server behind the Service, for the proxy's own error answers. */
  private async keyPairFor(service: k8s.V1Service): Promise<KeyPair | undefined> {
    const pod = this.podFor(service);
    if (pod) return pod.certPem && pod.keyPem ? { certPem: pod.certPem, keyPem: pod.keyPem } : undefined;
    const selector = Object.entries(service.spec?.selector ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const namespace = service.metadata!.namespace!;
    const pods = await this.core
      .listNamespacedPod({ namespace, labelSelector: selector })
      .catch(() => undefined);
    const ready = pods?.items.find((p) =>
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    return ready && this.keyPairOf(namespace, ready);
  }

  /** The serving certificate an exporter Pod was given: the Secret volume mounted at /cert. */
  private async keyPairOf(namespace: string, pod: k8s.V1Pod): Promise<KeyPair | undefined> {
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
      const route: Route = { uid, address, proxies: [], rules: [] };
      try {
        // The proxy is TCP's (kube-dns's 53/UDP beside its 53/TCP would take the address twice).
        for (const port of (service.spec.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP')) {
          const proxyTo = (listen: { host: string; port: number }) =>
            startExportProxy({
              listen,
              upstream: () => this.upstreamOf(this.informer.get(name, namespace) ?? service, port.port),
              keyPair: () => this.keyPairFor(this.informer.get(name, namespace) ?? service),
              faultsFor: () => faults.forConnection(),
              onRead: () => this.options.onRead?.(this.informer.get(name, namespace) ?? service),
            });
          route.proxies.push(await proxyTo({ host: address, port: port.port }));
          await this.routePods(service, port.port, route, proxyTo);
        }
        this.routes.set(host, route);
        this.byHost.set(host, address);
        this.options.onHosts?.(this.byHost);
        return;
      } catch (err) {
        await this.release(route);
        // Another bed on this machine holds that address and port: take the next one.
        if (attempt > 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  /** The node's Pods to an export Service's ClusterIP:port go through a proxy on the host's end of the link. */
  private async routePods(
    service: k8s.V1Service,
    port: number,
    route: Route,
    proxyTo: (listen: { host: string; port: number }) => Promise<ExportProxy>,
  ): Promise<void> {
    const pods = this.options.podRoutes;
    const clusterIp = service.spec?.clusterIP;
    const ofExport = (service.metadata?.ownerReferences ?? []).some((r) => r.kind === VM_EXPORT.kind);
    if (!pods || !ofExport || !clusterIp || clusterIp === 'None') return;
    const proxy = await proxyTo({ host: pods.network.hostIp, port: 0 });
    route.proxies.push(proxy);
    const rule: NodeRule = {
      table: 'nat',
      chain: 'PREROUTING',
      spec: [
        ...['-i', pods.bridge, '-p', 'tcp', '-d', `${clusterIp}/32`, '--dport', String(port)],
        ...['-j', 'DNAT', '--to-destination', `${pods.network.hostIp}:${proxy.port}`],
      ],
      comment: `serverimage bed: ${service.metadata!.namespace}/${service.metadata!.name}:${port} through the fault proxy`,
    };
    await insertRule(pods.network, rule);
    route.rules.push(rule);
  }

  private async release(route: Route): Promise<void> {
    const network = this.options.podRoutes?.network;
    if (network) for (const rule of route.rules) await deleteRule(network, rule);
    await Promise.all(route.proxies.map((p) => p.stop()));
  }

  private async remove(service: k8s.V1Service): Promise<void> {
    const host = `${service.metadata!.name}.${service.metadata!.namespace}.svc`;
    const route = this.routes.get(host);
    if (!route) return;
    this.routes.delete(host);
    this.byHost.delete(host);
    this.options.onHosts?.(this.byHost);
    await this.release(route);
  }
}
