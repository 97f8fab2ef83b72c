// Shared by the kube-*.test.ts files: ServerImage objects on the real API server, a
// TCP proxy in front of it that can cut and refuse connections, and polling.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import type { ResourceRef } from '../../src/kube/resource.js';
import { kubeConfig } from '../harness/testbed.js';

export const SERVER_IMAGES: ResourceRef = {
  group: 'serverimage.io',
  version: 'v1alpha1',
  plural: 'serverimages',
  kind: 'ServerImage',
};

export interface ServerImageObject extends k8s.KubernetesObject {
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export function serverImage(namespace: string, name: string, extra: Partial<k8s.V1ObjectMeta> = {}) {
  return {
    apiVersion: 'serverimage.io/v1alpha1',
    kind: 'ServerImage',
    metadata: { name, namespace, ...extra },
    spec: { serverRef: { name: 'vm' }, registry: { repository: '127.0.0.1:5000/vm/x' } },
  };
}

export function customObjects(kc: k8s.KubeConfig = kubeConfig()): k8s.CustomObjectsApi {
  return kc.makeApiClient(k8s.CustomObjectsApi);
}

export async function createServerImage(
  namespace: string,
  name: string,
  extra: Partial<k8s.V1ObjectMeta> = {},
): Promise<ServerImageObject> {
  return (await customObjects().createNamespacedCustomObject({
    group: SERVER_IMAGES.group,
    version: SERVER_IMAGES.version,
    plural: SERVER_IMAGES.plural,
    namespace,
    body: serverImage(namespace, name, extra),
  })) as ServerImageObject;
}

export async function getServerImage(namespace: string, name: string): Promise<ServerImageObject> {
  return (await customObjects().getNamespacedCustomObject({
    group: SERVER_IMAGES.group,
    version: SERVER_IMAGES.version,
    plural: SERVER_IMAGES.plural,
    namespace,
    name,
  })) as ServerImageObject;
}

export async function deleteServerImage(namespace: string, name: string): Promise<void> {
  await customObjects().deleteNamespacedCustomObject({
    group: SERVER_IMAGES.group,
    version: SERVER_IMAGES.version,
    plural: SERVER_IMAGES.plural,
    namespace,
    name,
  });
}

/** Polls `probe` every 50 ms until it returns true (or throws after `timeoutMs`). */
export async function eventually(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A plain TCP proxy to the API server. TLS passes through untouched, so the client
 * certificate still authenticates; cutting the sockets is a real network failure.
 */
export interface TcpProxy {
  kubeConfig: k8s.KubeConfig;
  /** Destroys every open connection. */
  cut(): void;
  /** Resets new connections at once until allow() is called. */
  refuse(): void;
  allow(): void;
  connections(): number;
  stop(): Promise<void>;
}

export async function startTcpProxy(): Promise<TcpProxy> {
  const kc = kubeConfig();
  const upstream = new URL(kc.getCurrentCluster()!.server);
  const sockets = new Set<net.Socket>();
  let refusing = false;
  let accepted = 0;
  const server = net.createServer((client) => {
    if (refusing) return client.resetAndDestroy();
    accepted++;
    const up = net.connect(Number(upstream.port), upstream.hostname);
    for (const s of [client, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(up).pipe(client);
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const proxied = kubeConfig();
  const cluster = proxied.getCurrentCluster()!;
  proxied.clusters = proxied.clusters.map((c) =>
    c.name === cluster.name ? { ...c, server: `https://127.0.0.1:${port}` } : c,
  );
  const cut = () => {
    for (const s of sockets) s.resetAndDestroy();
  };
  return {
    kubeConfig: proxied,
    cut,
    refuse: () => (refusing = true),
    allow: () => (refusing = false),
    connections: () => accepted,
    stop: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}
