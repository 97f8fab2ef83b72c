// One disk file served by the KubeVirt simulator's export server
// (test/harness/kubevirt/export-server.ts: HTTPS, token header, Content-Length,
// Range, faults), without the control plane around it: the benchmark and the
// data path tests need the server, not the VirtualMachineExport objects.
import { randomBytes } from 'node:crypto';
import { Ann } from '../harness/kubevirt/annotations.js';
import type { Obj } from '../harness/kubevirt/api.js';
import { startExportServer } from '../harness/kubevirt/export-server.js';
import { createCertificateAuthority } from '../harness/tls.js';

export interface DiskExportFaults {
  /** Cut every response's connection after this many body bytes. */
  dropAfterBytes?: number;
  /** Answer the next N requests with an HTTP error (default 503). The server counts per value set: set a different N to re-arm. */
  httpErrors?: number;
  httpStatus?: number;
}

export interface DiskExport {
  /** The volume's `raw` link. */
  url: string;
  caPem: string;
  token: string;
  /** Changes the faults for the following requests. */
  setFaults(faults: DiskExportFaults): void;
  stop(): Promise<void>;
}

export async function serveDiskFile(file: string, faults: DiskExportFaults = {}): Promise<DiskExport> {
  const served = {
    namespace: 'vms',
    name: 'export',
    uid: 'export-uid',
    token: randomBytes(16).toString('hex'),
    volumes: new Map([['rootdisk', 'rootdisk-pvc']]),
  };
  const faultObject: Obj = {
    metadata: { name: 'faults', namespace: served.namespace, uid: 'faults', annotations: {} },
  };
  const setFaults = (f: DiskExportFaults) => {
    faultObject.metadata.annotations = Object.fromEntries(
      [
        [Ann.faultDropAfterBytes, f.dropAfterBytes],
        [Ann.faultHttpErrors, f.httpErrors],
        [Ann.faultHttpStatus, f.httpStatus],
      ]
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, String(v)]),
    );
  };
  setFaults(faults);
  const server = await startExportServer({
    ca: createCertificateAuthority('disk-export-ca'),
    lookup: (namespace, name) =>
      namespace === served.namespace && name === served.name ? served : undefined,
    fileOf: (_namespace, pvc) => (pvc === 'rootdisk-pvc' ? file : undefined),
    faultSources: () => [faultObject],
    log: (message, err) => console.error(message, err),
  });
  return {
    url: `${server.url}/${served.namespace}/${served.name}/volumes/rootdisk/disk.img`,
    caPem: server.caPem,
    token: served.token,
    setFaults,
    stop: () => server.stop(),
  };
}
