// One disk file served by the real virt-exportserver (KubeVirt's exporter, as the bed's
// kubelet stand-in runs it for every exporter Pod: ../harness/kubevirt/export-endpoint.ts),
// without the control plane around it: the benchmark and the data path tests need the
// server, not the VirtualMachineExport objects. `url` goes through the fault proxy,
// `directUrl` reaches the server itself (the benchmark measures there).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startExportEndpoint } from '../harness/kubevirt/export-endpoint.js';
import type { ConnectionFaults } from '../harness/kubevirt/export-proxy.js';
import { rawUri } from '../harness/kubevirt/virt-exportserver.js';
import { createCertificateAuthority } from '../harness/tls.js';

export interface DiskExportFaults {
  /** Cut each connection after this many bytes from the server (TLS bytes on the wire). */
  dropAfterBytes?: number;
  /** Answer the next N connections with an HTTP error (default 503); setting faults again re-arms. */
  httpErrors?: number;
  httpStatus?: number;
}

export interface DiskExport {
  /** The volume's `raw` link, through the fault proxy. */
  url: string;
  /** The same on the server itself: no proxy, no faults. */
  directUrl: string;
  caPem: string;
  token: string;
  /** Changes the faults for the following connections. */
  setFaults(faults: DiskExportFaults): void;
  stop(): Promise<void>;
}

const PVC = 'rootdisk-pvc';

export async function serveDiskFile(file: string, faults: DiskExportFaults = {}): Promise<DiskExport> {
  const ca = createCertificateAuthority('disk-export-ca');
  const token = randomBytes(16).toString('hex');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'disk-export-'));
  let current = faults;
  let errorsLeft = faults.httpErrors ?? 0;
  const faultsFor = (): ConnectionFaults => {
    const httpStatus = errorsLeft > 0 ? (current.httpStatus ?? 503) : undefined;
    if (httpStatus) errorsLeft--;
    return { dropAfterBytes: current.dropAfterBytes, httpStatus };
  };
  const endpoint = await startExportEndpoint({
    dir: path.join(dir, 'exporter'),
    name: 'export',
    namespace: 'vms',
    volumes: [{ pvcName: PVC, file, block: true }],
    ca,
    token,
    faultsFor,
  });
  return {
    url: `${endpoint.url}${rawUri(PVC)}`,
    directUrl: `${endpoint.directUrl}${rawUri(PVC)}`,
    caPem: ca.certPem,
    token,
    setFaults(f) {
      current = f;
      errorsLeft = f.httpErrors ?? 0;
    },
    async stop() {
      await endpoint.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
