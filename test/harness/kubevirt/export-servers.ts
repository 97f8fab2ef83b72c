// The exporter "Pods" and "Services" of the simulator. Per VirtualMachineExport: a fault
// proxy (export-proxy.ts) standing in for its Service, made once and kept while the
// export lives, so its links never change; and behind it the real virt-exportserver
// (its Pod) while the export is Ready. The export controller's reconcile of that export
// drives it (one reconcile per key at a time, so calls for one export never overlap).
// A server whose volumes or deadline change is replaced, as KubeVirt replaces the Pod;
// a new token is written into the running one, as the kubelet refreshes a Secret volume.
import path from 'node:path';
import type { CertificateAuthority, KeyPair } from '../tls.js';
import type { Obj } from './api.js';
import { ExportFaults } from './export-faults.js';
import { startExportProxy, type ExportProxy } from './export-proxy.js';
import { startVirtExportServer, type ExportVolume, type VirtExportServer } from './virt-exportserver.js';

export interface ServedExport {
  namespace: string;
  name: string;
  uid: string;
  token: string;
  vmName?: string;
  volumes: ExportVolume[];
  deadline: Date;
}

export interface ExportServersOptions {
  ca: CertificateAuthority;
  /**
   * The serving certificate of every export server. KubeVirt issues one per export
   * (naming its Service); here one is issued up front and shared: signing is pure-JS
   * RSA (node-forge) and took seconds of blocked event loop per export on a loaded
   * machine, longer than the operator's export timeout in tests.
   */
  keyPair: KeyPair;
  /** Working folders of the servers go below this. */
  dir: string;
  /** The objects whose annotations carry this export's faults: the export, then its VM. */
  faultSources(served: ServedExport): Array<Obj | undefined>;
  /** A connection is reading a body (for the export-read VM change). */
  onRead(served: ServedExport): void;
}

interface Entry {
  uid: string;
  proxy: ExportProxy;
  /** The export as last ensured: what the proxy's faults and read hook refer to. */
  served: ServedExport;
  server?: { fingerprint: string; token: string; process: VirtExportServer };
}

export interface RunningExportServer {
  namespace: string;
  name: string;
  pid: number;
  /** https://127.0.0.1:PORT of the proxy: the base of the export's links. */
  url: string;
}

const keyOf = (s: { namespace: string; name: string }) => `${s.namespace}/${s.name}`;
const urlOf = (proxy: ExportProxy) => `https://127.0.0.1:${proxy.port}`;

export class ExportServers {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: ExportServersOptions) {}

  /** Serves `served` (starting or replacing its server when needed); resolves with the links' base URL. */
  async ensure(served: ServedExport): Promise<string> {
    const entry = await this.entryFor(served);
    entry.served = served;
    const fingerprint = JSON.stringify([served.volumes, served.deadline.toISOString()]);
    const current = entry.server;
    if (current && current.fingerprint === fingerprint && !current.process.exited()) {
      if (current.token !== served.token) {
        current.process.setToken(served.token);
        current.token = served.token;
      }
      return urlOf(entry.proxy);
    }
    await this.pause(keyOf(served));
    const process = await startVirtExportServer({
      dir: path.join(this.options.dir, served.namespace, `${served.name}-${served.uid}`),
      podName: `virt-export-${served.name}`,
      volumes: served.volumes,
      keyPair: this.options.keyPair,
      caPem: this.options.ca.certPem,
      token: served.token,
      deadline: served.deadline,
    });
    entry.server = { fingerprint, token: served.token, process };
    return urlOf(entry.proxy);
  }

  /** Stops the export's server but keeps its proxy (the export is not Ready now). */
  async pause(key: string): Promise<void> {
    const entry = this.entries.get(key);
    const server = entry?.server;
    if (!server) return;
    entry.server = undefined;
    await server.process.stop();
  }

  /** Stops server and proxy: the export is gone. */
  async stop(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry) return;
    await this.pause(key);
    this.entries.delete(key);
    await entry.proxy.stop();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((key) => this.stop(key)));
  }

  list(): RunningExportServer[] {
    return [...this.entries.values()]
      .filter((e) => e.server)
      .map((e) => ({
        namespace: e.served.namespace,
        name: e.served.name,
        pid: e.server!.process.pid,
        url: urlOf(e.proxy),
      }));
  }

  /** The export's entry; a new one (certificate, proxy) for a new export UID. */
  private async entryFor(served: ServedExport): Promise<Entry> {
    const key = keyOf(served);
    const existing = this.entries.get(key);
    if (existing?.uid === served.uid) return existing;
    await this.stop(key);
    const faults = new ExportFaults(() => this.options.faultSources(entry.served));
    const proxy = await startExportProxy({
      upstreamPort: () => entry.server?.process.port,
      keyPair: this.options.keyPair,
      faultsFor: () => faults.forConnection(),
      onRead: () => this.options.onRead(entry.served),
    });
    const entry: Entry = { uid: served.uid, proxy, served };
    this.entries.set(key, entry);
    return entry;
  }
}
