// Helpers for tests that drive the simulator: make VMs and disk PVCs, wait for an
// object to reach a state, and download from an export server.
import { createHash } from 'node:crypto';
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { createGunzip } from 'node:zlib';
import type * as k8s from '@kubernetes/client-node';
import { parseByteQuantity } from '../disks.js';
import { Ann } from './annotations.js';
import { Client, VM, type Obj, type Resource } from './api.js';

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class SimTestClient extends Client {
  constructor(kubeConfig: k8s.KubeConfig) {
    super(kubeConfig);
  }

  /** Waits until the object exists and `predicate` holds; returns it. */
  waitFor(
    r: Resource,
    namespace: string,
    name: string,
    predicate: (o: Obj) => boolean,
    what = '',
  ): Promise<Obj> {
    return until(`${r.kind} ${namespace}/${name} ${what}`, async () => {
      const o = await this.get(r, namespace, name);
      return o && predicate(o) ? o : undefined;
    });
  }

  waitForVmStatus(namespace: string, name: string, printableStatus: string): Promise<Obj> {
    return this.waitFor(
      VM,
      namespace,
      name,
      (o) => o.status?.printableStatus === printableStatus,
      printableStatus,
    );
  }

  /** A PVC whose bytes are a deterministic disk; resolves with the disk's sha256 once written. */
  async createDiskPvc(
    namespace: string,
    name: string,
    opts: { size: string; seed?: string; storageClassName?: string; ownerVm?: Obj } = { size: '2Mi' },
  ): Promise<string> {
    await this.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: {
          name,
          annotations: { [Ann.diskSize]: opts.size, ...(opts.seed ? { [Ann.diskSeed]: opts.seed } : {}) },
          ownerReferences: opts.ownerVm
            ? [
                {
                  apiVersion: 'kubevirt.io/v1',
                  kind: 'VirtualMachine',
                  name: opts.ownerVm.metadata.name,
                  uid: opts.ownerVm.metadata.uid,
                },
              ]
            : undefined,
        },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: opts.size } },
          storageClassName: opts.storageClassName,
        },
      },
    });
    // Writing and hashing a big disk takes its time: 20 s, and 40 s more per GiB.
    return this.pvcSha256(namespace, name, 20_000 + (parseByteQuantity(opts.size) / 2 ** 30) * 40_000);
  }

  /** The sha256 the simulator wrote on the PVC for its current seed. */
  pvcSha256(namespace: string, name: string, timeoutMs?: number): Promise<string> {
    return until(
      `disk of PVC ${namespace}/${name}`,
      async () => {
        const pvc = await this.core.readNamespacedPersistentVolumeClaim({ namespace, name });
        const a = pvc.metadata?.annotations ?? {};
        const seed = a[Ann.diskSeed] ?? `${namespace}/${name}`;
        const fresh = a[Ann.diskGenerated]?.endsWith(`:${seed}`);
        return pvc.status?.phase === 'Bound' && fresh ? a[Ann.diskSha256] : undefined;
      },
      timeoutMs,
    );
  }

  async createVm(
    namespace: string,
    name: string,
    opts: { runStrategy?: string; volumes?: object[]; annotations?: Record<string, string> } = {},
  ): Promise<Obj> {
    return this.create(VM, namespace, {
      metadata: { name, annotations: opts.annotations },
      spec: {
        runStrategy: opts.runStrategy ?? 'Halted',
        template: {
          spec: {
            domain: { devices: {}, resources: { requests: { memory: '64Mi' } } },
            volumes: opts.volumes ?? [],
          },
        },
      },
    });
  }

  async annotate(r: Resource, namespace: string, name: string, annotations: Record<string, string | null>) {
    return this.patch(r, namespace, name, { metadata: { annotations } });
  }
}

export interface Download {
  status: number;
  headers: IncomingHttpHeaders;
  bytes: number;
  sha256: string;
  /** true if the connection ended before the response was complete */
  aborted: boolean;
}

/**
 * GETs a URL from an export server, hashing the body (gunzipped when `gunzip`). One
 * connection per download, as the operator does: the fault proxy decides a
 * connection's faults when it opens, so a kept-alive one would miss a fault just set.
 */
export function download(
  url: string,
  caPem: string,
  opts: { token?: string; headers?: Record<string, string>; gunzip?: boolean; method?: string } = {},
): Promise<Download> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token !== undefined) headers['x-kubevirt-export-token'] = opts.token;
    const req = https.request(
      url,
      { ca: caPem, headers, method: opts.method ?? 'GET', agent: false },
      (res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        let aborted = false;
        const body = opts.gunzip && res.statusCode === 200 ? res.pipe(createGunzip()) : res;
        body.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          hash.update(chunk);
        });
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            bytes,
            sha256: hash.digest('hex'),
            aborted,
          });
        };
        body.on('end', finish);
        res.on('aborted', () => (aborted = true));
        body.on('error', () => {
          aborted = true;
          finish();
        });
        res.on('close', () => {
          // A complete response finishes on the body's 'end' (after gunzip drains).
          if (res.complete) return;
          aborted = true;
          finish();
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
