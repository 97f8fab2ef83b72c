// One export's endpoint: the real virt-exportserver (its exporter Pod) and the fault
// proxy in front of it (its Service). Clients use `url`, the proxy; `directUrl` reaches
// the server itself (the benchmark reads there: no faults, no extra hop).
import type { CertificateAuthority, KeyPair } from '../tls.js';
import { startExportProxy, type ConnectionFaults, type ExportProxy } from './export-proxy.js';
import { startVirtExportServer, type ExportVolume, type VirtExportServer } from './virt-exportserver.js';

export interface ExportEndpointOptions {
  /** Working folder of the server (its Pod's file system). */
  dir: string;
  /** The export's name and namespace: they name the Pod, Service and certificate as KubeVirt does. */
  name: string;
  namespace: string;
  volumes: ExportVolume[];
  ca: CertificateAuthority;
  token: string;
  deadline?: Date;
  faultsFor?: () => ConnectionFaults;
  onRead?: () => void;
}

export interface ExportEndpoint {
  /** https://127.0.0.1:PORT, through the fault proxy: what links.internal point at. */
  url: string;
  /** https://127.0.0.1:PORT of the server itself. */
  directUrl: string;
  server: VirtExportServer;
  setToken(token: string): void;
  stop(): Promise<void>;
}

/** The export's serving certificate. */
export function exportCertificate(ca: CertificateAuthority, name: string, namespace: string): KeyPair {
  const service = `virt-export-${name}`;
  // KubeVirt's names the Service; 127.0.0.1 is added because links here point at
  // loopback (no cluster DNS).
  return ca.issue({
    commonName: `${service}.${namespace}.svc`,
    dnsNames: [
      service,
      `${service}.${namespace}`,
      `${service}.${namespace}.svc`,
      `${service}.${namespace}.svc.cluster.local`,
    ],
    ipAddresses: ['127.0.0.1'],
    usage: 'server',
  });
}

export async function startExportEndpoint(options: ExportEndpointOptions): Promise<ExportEndpoint> {
  const keyPair = exportCertificate(options.ca, options.name, options.namespace);
  const server = await startVirtExportServer({
    dir: options.dir,
    podName: `virt-export-${options.name}`,
    volumes: options.volumes,
    keyPair,
    caPem: options.ca.certPem,
    token: options.token,
    deadline: options.deadline,
  });
  let proxy: ExportProxy;
  try {
    proxy = await startExportProxy({
      upstream: () => ({ host: '127.0.0.1', port: server.port }),
      keyPair,
      faultsFor: options.faultsFor ?? (() => ({})),
      onRead: options.onRead,
    });
  } catch (err) {
    await server.stop();
    throw err;
  }
  return {
    url: `https://127.0.0.1:${proxy.port}`,
    directUrl: `https://127.0.0.1:${server.port}`,
    server,
    setToken: (token) => server.setToken(token),
    async stop() {
      await proxy.stop();
      await server.stop();
    },
  };
}
