// The simulated export controller and the real virt-exportserver it runs for each Ready
// export: sources, links, token, raw/Range/gzip bytes over HTTP/1.1 and HTTP/2, the
// server's life (started when Ready, stopped when deleted, expired or the simulator
// stops), and the export faults of the proxy in front of it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import http2 from 'node:http2';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM, VM_EXPORT, VM_SNAPSHOT, type Obj } from '../harness/kubevirt/api.js';
import { startKubevirtSimulator, type KubevirtSimulator } from '../harness/kubevirt/simulator.js';
import { SimTestClient, download, until } from '../harness/kubevirt/testing.js';
import { createNamespace, kubeConfig, kubectl } from '../harness/testbed.js';

let sim: KubevirtSimulator;
let client: SimTestClient;
let ns: string;

beforeAll(async () => {
  sim = await startKubevirtSimulator({ kubeConfig: kubeConfig() });
  client = new SimTestClient(kubeConfig());
  ns = await createNamespace('sim-export');
});

afterAll(async () => {
  await sim?.stop();
});

const SIZE = 3 * 1024 * 1024;

async function vmWithDisk(name: string, runStrategy: string, annotations?: Record<string, string>) {
  const sha256 = await client.createDiskPvc(ns, `${name}-root`, { size: String(SIZE) });
  await client.createVm(ns, name, {
    runStrategy,
    annotations,
    volumes: [{ name: 'rootdisk', persistentVolumeClaim: { claimName: `${name}-root` } }],
  });
  await client.waitForVmStatus(ns, name, runStrategy === 'Halted' ? 'Stopped' : 'Running');
  return sha256;
}

async function snapshot(vmName: string): Promise<string> {
  const name = `${vmName}-snap`;
  await client.create(VM_SNAPSHOT, ns, {
    metadata: { name },
    spec: { source: { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: vmName } },
  });
  await client.waitFor(VM_SNAPSHOT, ns, name, (o) => o.status?.readyToUse === true);
  return name;
}

function exportOf(name: string, kind: string, sourceName: string, extra: Record<string, unknown> = {}) {
  const apiGroup =
    { VirtualMachine: 'kubevirt.io', VirtualMachineSnapshot: 'snapshot.kubevirt.io' }[kind] ?? '';
  return client.create(VM_EXPORT, ns, {
    metadata: { name, ...((extra.metadata as object) ?? {}) },
    spec: { source: { apiGroup, kind, name: sourceName }, ...((extra.spec as object) ?? {}) },
  });
}

const ready = (o: Obj) => o.status?.phase === 'Ready';
const condition = (o: Obj, type: string) =>
  (o.status?.conditions ?? []).find((c: { type: string }) => c.type === type);

async function tokenOf(exp: Obj): Promise<string> {
  const secret = await client.core.readNamespacedSecret({ namespace: ns, name: exp.status.tokenSecretRef });
  return Buffer.from(secret.data!.token!, 'base64').toString();
}

function urlOf(exp: Obj, format: 'raw' | 'gzip', volume = exp.status.links.internal.volumes[0].name): string {
  const v = exp.status.links.internal.volumes.find((x: { name: string }) => x.name === volume);
  return v.formats.find((f: { format: string }) => f.format === format).url;
}

const serverOf = (name: string) => sim.exportServers().find((s) => s.namespace === ns && s.name === name);

/** Whether a process of that id still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One GET over HTTP/2 (ALPN h2), as a Go or curl client would speak to the real server. */
function http2Get(
  url: string,
  caPem: string,
  token: string,
): Promise<{ status: number; sha256: string; alpn: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const session = http2.connect(u.origin, { ca: caPem });
    session.on('error', reject);
    const req = session.request({ ':path': u.pathname, 'x-kubevirt-export-token': token });
    const hash = createHash('sha256');
    let status = 0;
    req.on('response', (headers) => (status = Number(headers[':status'])));
    req.on('data', (chunk: Buffer) => hash.update(chunk));
    req.on('end', () => {
      const alpn = session.alpnProtocol ?? '';
      session.close();
      resolve({ status, sha256: hash.digest('hex'), alpn });
    });
    req.on('error', reject);
    req.end();
  });
}

async function sha256OfRange(file: string, start: number, end: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { start, end })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('an export of a snapshot of a running VM', () => {
  let exp: Obj;
  let token: string;
  let diskSha: string;

  beforeAll(async () => {
    diskSha = await vmWithDisk('web', 'Always', { [Ann.guestAgent]: 'true' });
    const snap = await snapshot('web');
    await exportOf('web-export', 'VirtualMachineSnapshot', snap);
    exp = await client.waitFor(VM_EXPORT, ns, 'web-export', ready);
    token = await tokenOf(exp);
  });

  test('becomes Ready with links, a CA, a token Secret, serviceName and TTL', async () => {
    expect(exp.status).toMatchObject({
      phase: 'Ready',
      serviceName: 'virt-export-web-export',
      tokenSecretRef: 'export-token-web-export',
      virtualMachineName: 'web',
    });
    expect(condition(exp, 'Ready')).toMatchObject({ status: 'True', reason: 'PodReady' });
    expect(condition(exp, 'VolumesCreated')).toMatchObject({ status: 'True', reason: 'AllPVCsReady' });
    expect(condition(exp, 'PVCReady')).toMatchObject({ status: 'True', reason: 'PVCBound' });
    const ttl =
      Date.parse(exp.status.ttlExpirationTime) - new Date(exp.metadata.creationTimestamp!).getTime();
    expect(ttl).toBe(2 * 3600 * 1000);
    expect(exp.status.links.internal.cert).toBe(sim.exportCaPem);
    // The volume is named after the VM's PVC; the URL after the PVC served (restored from
    // the snapshot), as KubeVirt's links do; the host is its server's proxy on loopback.
    const base = serverOf('web-export')!.url;
    expect(exp.status.links.internal.volumes).toEqual([
      {
        name: 'web-root',
        formats: [
          { format: 'raw', url: `${base}/volumes/web-export-web-root/disk.img` },
          { format: 'gzip', url: `${base}/volumes/web-export-web-root/disk.img.gz` },
        ],
      },
    ]);
    // The restored PVC, named as KubeVirt names it, owned by the export.
    const pvc = await client.core.readNamespacedPersistentVolumeClaim({
      namespace: ns,
      name: 'web-export-web-root',
    });
    expect(pvc.spec?.dataSource).toMatchObject({ kind: 'VolumeSnapshot' });
    expect(pvc.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'VirtualMachineExport',
      name: 'web-export',
    });
    const secret = await client.core.readNamespacedSecret({ namespace: ns, name: 'export-token-web-export' });
    expect(secret.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'VirtualMachineExport' });
  });

  test('raw serves exactly the disk bytes with Content-Length', async () => {
    const got = await download(urlOf(exp, 'raw'), exp.status.links.internal.cert, { token });
    expect(got).toMatchObject({ status: 200, bytes: SIZE, sha256: diskSha, aborted: false });
    expect(got.headers['content-length']).toBe(String(SIZE));
    expect(got.headers['accept-ranges']).toBe('bytes');
  });

  test('a Range request gets 206 with Content-Range and exactly those bytes; a bad range gets 416', async () => {
    const file = sim.diskFile(ns, 'web-export-web-root')!;
    const start = 1_000_000;
    const end = 2_500_000;
    const part = await download(urlOf(exp, 'raw'), sim.exportCaPem, {
      token,
      headers: { Range: `bytes=${start}-${end}` },
    });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(part.headers['content-length']).toBe(String(end - start + 1));
    expect(part.sha256).toBe(await sha256OfRange(file, start, end));

    const tail = await download(urlOf(exp, 'raw'), sim.exportCaPem, {
      token,
      headers: { Range: `bytes=${SIZE - 10}-` },
    });
    expect(tail).toMatchObject({ status: 206, bytes: 10 });

    const bad = await download(urlOf(exp, 'raw'), sim.exportCaPem, {
      token,
      headers: { Range: `bytes=${SIZE}-` },
    });
    expect(bad.status).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${SIZE}`);
  });

  test('HTTP/2 is offered by ALPN and serves the same bytes', async () => {
    const got = await http2Get(urlOf(exp, 'raw'), sim.exportCaPem, token);
    expect(got).toEqual({ status: 200, sha256: diskSha, alpn: 'h2' });
  });

  test('gzip streams without Content-Length and decompresses to the same bytes', async () => {
    const got = await download(urlOf(exp, 'gzip'), sim.exportCaPem, { token, gunzip: true });
    expect(got).toMatchObject({ status: 200, sha256: diskSha, bytes: SIZE });
    expect(got.headers['content-length']).toBeUndefined();
  });

  test('a wrong or missing token gets 401; the token also works as a query parameter', async () => {
    expect((await download(urlOf(exp, 'raw'), sim.exportCaPem, { token: 'wrong' })).status).toBe(401);
    expect((await download(urlOf(exp, 'raw'), sim.exportCaPem)).status).toBe(401);
    const viaQuery = await download(`${urlOf(exp, 'raw')}?x-kubevirt-export-token=${token}`, sim.exportCaPem);
    expect(viaQuery).toMatchObject({ status: 200, sha256: diskSha });
  });

  test('deleting the export removes its token Secret and restored PVCs, and stops its server', async () => {
    const { pid } = serverOf('web-export')!;
    expect(alive(pid)).toBe(true);
    await client.delete(VM_EXPORT, ns, 'web-export');
    await until('secret and restored PVC gone', async () => {
      const secrets = await client.core.listNamespacedSecret({ namespace: ns });
      const pvcs = await client.core.listNamespacedPersistentVolumeClaim({ namespace: ns });
      return (
        !secrets.items.some((s) => s.metadata?.name === 'export-token-web-export') &&
        !pvcs.items.some((p) => p.metadata?.name === 'web-export-web-root')
      );
    });
    await until('server process gone', async () => !alive(pid) && !serverOf('web-export'));
    // Like a deleted exporter Pod and Service: nothing answers there any more.
    await expect(download(urlOf(exp, 'raw'), sim.exportCaPem, { token })).rejects.toThrow(/ECONNREFUSED/);
  });
});

test('an expired export is deleted and its server stopped', async () => {
  await client.createDiskPvc(ns, 'short-lived', { size: '1Mi' });
  await exportOf('short-export', 'PersistentVolumeClaim', 'short-lived', { spec: { ttlDuration: '4s' } });
  const exp = await client.waitFor(VM_EXPORT, ns, 'short-export', ready);
  const { pid } = serverOf('short-export')!;
  expect(exp.status.ttlExpirationTime).toBeDefined();
  await until('export deleted at its TTL', async () => !(await client.get(VM_EXPORT, ns, 'short-export')));
  await until('server process gone', async () => !alive(pid) && !serverOf('short-export'));
});

test('a VirtualMachine source: Pending/InUse while running, Ready once stopped', async () => {
  const diskSha = await vmWithDisk('db', 'Always');
  await exportOf('db-export', 'VirtualMachine', 'db');
  const pending = await client.waitFor(VM_EXPORT, ns, 'db-export', (o) => o.status?.phase === 'Pending');
  expect(condition(pending, 'Ready')).toMatchObject({
    status: 'False',
    reason: 'InUse',
    message: `Virtual Machine ${ns}/db is running`,
  });
  expect(pending.status.links?.internal).toBeUndefined();

  await client.patch(VM, ns, 'db', { spec: { runStrategy: 'Halted' } });
  const exp = await client.waitFor(VM_EXPORT, ns, 'db-export', ready);
  const got = await download(urlOf(exp, 'raw', 'db-root'), sim.exportCaPem, {
    token: await tokenOf(exp),
  });
  expect(got).toMatchObject({ status: 200, sha256: diskSha });
});

test('a PersistentVolumeClaim source through v1beta1, with a given tokenSecretRef, via kubectl', async () => {
  const diskSha = await client.createDiskPvc(ns, 'loose', { size: '1Mi' });
  await client.core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'my-token' }, stringData: { token: 'sesame' } },
  });
  const applied = await kubectl(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'export.kubevirt.io/v1beta1',
      kind: 'VirtualMachineExport',
      metadata: { name: 'pvc-export' },
      spec: {
        source: { apiGroup: '', kind: 'PersistentVolumeClaim', name: 'loose' },
        tokenSecretRef: 'my-token',
      },
    }),
  );
  expect(applied.code).toBe(0);
  const exp = await client.waitFor(VM_EXPORT, ns, 'pvc-export', ready);
  expect(exp.status.tokenSecretRef).toBe('my-token');
  const got = await download(urlOf(exp, 'raw', 'loose'), sim.exportCaPem, { token: 'sesame' });
  expect(got).toMatchObject({ status: 200, sha256: diskSha });
});

describe('export faults', () => {
  let exp: Obj;
  let token: string;
  let diskSha: string;

  beforeAll(async () => {
    diskSha = await vmWithDisk('faulty', 'Halted');
    await exportOf('faulty-export', 'VirtualMachine', 'faulty');
    exp = await client.waitFor(VM_EXPORT, ns, 'faulty-export', ready);
    token = await tokenOf(exp);
  });

  afterEach(async () => {
    await client.annotate(VM_EXPORT, ns, 'faulty-export', {
      [Ann.faultDropAfterBytes]: null,
      [Ann.faultBytesPerSecond]: null,
      [Ann.faultHttpErrors]: null,
      [Ann.faultHttpStatus]: null,
    });
    await until(
      'faults cleared',
      async () => (await download(urlOf(exp, 'raw'), sim.exportCaPem, { token })).status === 200,
    );
  });

  test('fault-export=never-ready keeps an export Pending', async () => {
    await vmWithDisk('never', 'Halted', { [Ann.faultExport]: 'never-ready' });
    await exportOf('never-export', 'VirtualMachine', 'never');
    const pending = await client.waitFor(VM_EXPORT, ns, 'never-export', (o) => o.status?.phase === 'Pending');
    expect(condition(pending, 'Ready')).toMatchObject({ status: 'False', reason: 'PodPending' });
    await new Promise((r) => setTimeout(r, 1000));
    expect((await client.get(VM_EXPORT, ns, 'never-export'))!.status.phase).toBe('Pending');
    // Lifting the fault lets it become Ready.
    await client.annotate(VM, ns, 'never', { [Ann.faultExport]: null });
    await client.waitFor(VM_EXPORT, ns, 'never-export', ready);
  });

  test('fault-drop-after-bytes cuts every connection after N bytes on the wire; Range resumes', async () => {
    const N = 100_000;
    // What the cut costs besides body bytes: the TLS handshake, the headers, record framing.
    const overhead = 16 * 1024;
    await client.annotate(VM_EXPORT, ns, 'faulty-export', { [Ann.faultDropAfterBytes]: String(N) });
    const first = await until('fault seen', async () => {
      const got = await download(urlOf(exp, 'raw'), sim.exportCaPem, { token });
      return got.aborted ? got : undefined;
    });
    expect(first.status).toBe(200);
    expect(first.bytes).toBeLessThan(N);
    expect(first.bytes).toBeGreaterThan(N - overhead);
    const resumed = await download(urlOf(exp, 'raw'), sim.exportCaPem, {
      token,
      headers: { Range: `bytes=${first.bytes}-` },
    });
    expect(resumed).toMatchObject({ status: 206, aborted: true });
    expect(resumed.headers['content-range']).toBe(`bytes ${first.bytes}-${SIZE - 1}/${SIZE}`);
    expect(resumed.bytes).toBeGreaterThan(N - overhead);
  });

  test('fault-bytes-per-second throttles the stream (bytes still exact)', async () => {
    await client.annotate(VM_EXPORT, ns, 'faulty-export', { [Ann.faultBytesPerSecond]: String(1024 * 1024) });
    await until(
      'throttle active',
      async () => {
        const started = Date.now();
        const got = await download(urlOf(exp, 'raw'), sim.exportCaPem, { token });
        // 3 MiB at 1 MiB/s cannot arrive in under ~2 s; the throttle is a floor, not a race.
        return got.sha256 === diskSha && Date.now() - started >= 2000;
      },
      30_000,
    );
  });

  test('fault-http-errors answers the next K requests with the given status, then serves again', async () => {
    await client.annotate(VM_EXPORT, ns, 'faulty-export', {
      [Ann.faultHttpErrors]: '2',
      [Ann.faultHttpStatus]: '502',
    });
    await until(
      'first error',
      async () => (await download(urlOf(exp, 'raw'), sim.exportCaPem, { token })).status === 502,
    );
    expect((await download(urlOf(exp, 'raw'), sim.exportCaPem, { token })).status).toBe(502);
    const after = await download(urlOf(exp, 'raw'), sim.exportCaPem, { token });
    expect(after).toMatchObject({ status: 200, sha256: diskSha });
  });

  test('fault-vm-change export-read=Migrating changes the VM once the download starts', async () => {
    await client.annotate(VM, ns, 'faulty', { [Ann.faultVmChange]: 'export-read=Migrating' });
    await until('annotation seen by the simulator', async () => {
      // Once the VM migrates the export is no longer Ready: its server is stopped and
      // the connection refused, so a download may fail here.
      await download(urlOf(exp, 'raw'), sim.exportCaPem, { token }).catch(() => undefined);
      return (await client.get(VM, ns, 'faulty'))!.status?.printableStatus === 'Migrating';
    });
    await client.annotate(VM, ns, 'faulty', { [Ann.faultVmChange]: null, [Ann.printableStatus]: null });
    // Stopped again, the export is Ready again behind the same links (its Service stayed).
    await client.waitFor(VM_EXPORT, ns, 'faulty-export', ready);
  });
});

// Last in this file: it stops the simulator (afterAll's stop() is then a no-op).
test('stopping the simulator stops every export server it started', async () => {
  const pids = sim.exportServers().map((s) => s.pid);
  expect(pids.length).toBeGreaterThan(0);
  expect(pids.every(alive)).toBe(true);
  await sim.stop();
  expect(pids.filter(alive)).toEqual([]);
  expect(sim.exportServers()).toEqual([]);
});
