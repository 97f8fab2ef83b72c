// Shared by the ServerImage tests: a VM with disks on the KubeVirt bed, a
// ServerImage of it, waiting for a phase, and the "nothing left behind" check.
import { craneFor, type Crane } from '../harness/crane.js';
import { installProjectCrds } from '../harness/crds.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM, VM_EXPORT, VM_SNAPSHOT, type Obj, type Resource } from '../harness/kubevirt/api.js';
import {
  startRealKubevirt,
  type RealKubevirt,
  type RealKubevirtOptions,
} from '../harness/kubevirt/real/bed.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { startOperator, type InProcessOperator } from '../harness/operator.js';
import { startRegistry, type RegistryOptions, type TestRegistry } from '../harness/registry.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';

export const SERVERIMAGE: Resource = {
  group: 'serverimage.io',
  version: 'v1alpha1',
  plural: 'serverimages',
  kind: 'ServerImage',
};

export interface VmOptions {
  runStrategy?: 'Always' | 'Halted';
  agent?: boolean;
  paused?: boolean;
  /** `seed`: the disk's bytes (default: the PVC's namespace/name), e.g. the same disk for two VMs. */
  disks?: { volume: string; size: number; seed?: string }[];
  extraVolumes?: object[];
  annotations?: Record<string, string>;
}

/** Creates a VM with PVC disks; resolves with each volume's disk sha256 once it is in its state. */
export async function createVm(client: SimTestClient, ns: string, name: string, options: VmOptions = {}) {
  const disks = options.disks ?? [{ volume: 'rootdisk', size: 3 * 1024 * 1024 }];
  const shas: Record<string, string> = {};
  for (const disk of disks) {
    shas[disk.volume] = await client.createDiskPvc(ns, `${name}-${disk.volume}`, {
      size: String(disk.size),
      seed: disk.seed,
    });
  }
  const annotations: Record<string, string> = { ...options.annotations };
  if (options.agent) annotations[Ann.guestAgent] = 'true';
  if (options.paused) annotations[Ann.paused] = 'true';
  await client.createVm(ns, name, {
    runStrategy: options.runStrategy ?? 'Always',
    annotations,
    volumes: [
      ...disks.map((d) => ({ name: d.volume, persistentVolumeClaim: { claimName: `${name}-${d.volume}` } })),
      ...(options.extraVolumes ?? []),
    ],
  });
  const expected =
    annotations[Ann.printableStatus] ??
    (options.paused ? 'Paused' : options.runStrategy === 'Halted' ? 'Stopped' : 'Running');
  await client.waitForVmStatus(ns, name, expected);
  return shas;
}

export function serverImage(
  ns: string,
  name: string,
  vm: string,
  registry: TestRegistry,
  spec: Record<string, unknown> = {},
) {
  const { registry: registryExtra, ...rest } = spec as { registry?: object };
  return {
    apiVersion: 'serverimage.io/v1alpha1',
    kind: 'ServerImage',
    metadata: { name, namespace: ns },
    spec: {
      serverRef: { name: vm },
      registry: { repository: `${registry.host}/vms/${vm}`, insecure: !registry.tls, ...registryExtra },
      ...rest,
    },
  };
}

export async function createServerImage(
  client: SimTestClient,
  body: ReturnType<typeof serverImage>,
): Promise<Obj> {
  return client.create(SERVERIMAGE, body.metadata.namespace, body);
}

export function waitForPhase(
  client: SimTestClient,
  ns: string,
  name: string,
  phase: string,
  timeoutMs = 60_000,
): Promise<Obj> {
  return until(
    `ServerImage ${ns}/${name} ${phase}`,
    async () => {
      const si = await client.get(SERVERIMAGE, ns, name);
      if (si?.status?.phase && si.status.phase !== phase && ['Active', 'Error'].includes(si.status.phase)) {
        throw new Error(
          `ServerImage ${name} ended ${si.status.phase}: ${JSON.stringify(si.status.conditions)}`,
        );
      }
      return si?.status?.phase === phase ? si : undefined;
    },
    timeoutMs,
  ).catch(async (err: Error) => {
    const si = await client.get(SERVERIMAGE, ns, name);
    throw new Error(`${err.message}\nlast status: ${JSON.stringify(si?.status, null, 1)}`);
  });
}

export const conditionOf = (si: Obj, type: string) =>
  (si.status?.conditions ?? []).find((c: { type: string }) => c.type === type) as
    { status: string; reason: string; message: string } | undefined;

/** No snapshot, export or transfer Pod made by the operator is left, and no upload session is open. */
export async function expectNothingLeftBehind(client: SimTestClient, ns: string, registries: TestRegistry[]) {
  const ours = async (r: Resource) =>
    (
      (await client.custom.listNamespacedCustomObject({
        ...r,
        namespace: ns,
        labelSelector: 'serverimage.io/serverimage',
      })) as { items: Obj[] }
    ).items;
  await until(
    'snapshots and exports of the operator to be gone',
    async () => (await ours(VM_SNAPSHOT)).length === 0 && (await ours(VM_EXPORT)).length === 0,
    20_000,
  ).catch(async (err: Error) => {
    const left = [...(await ours(VM_SNAPSHOT)), ...(await ours(VM_EXPORT))].map(
      (o) => `${o.kind} ${o.metadata.name}`,
    );
    throw new Error(`${err.message}: ${left.join(', ')}`);
  });
  await until(
    'transfer Pods of the operator to be gone',
    async () =>
      (
        await client.core.listNamespacedPod({
          namespace: ns,
          labelSelector: 'app.kubernetes.io/component=transfer,serverimage.io/serverimage',
        })
      ).items.length === 0,
    40_000,
  );
  for (const registry of registries) expect(registry.openUploads()).toEqual([]);
}

export { VM };

export interface ServerImageBed {
  sim: RealKubevirt;
  registry: TestRegistry;
  crane: Crane;
  client: SimTestClient;
  /** The in-process operator, unless the test runs its own. */
  operator?: InProcessOperator;
  stop(): Promise<void>;
}

/** The bed's options (the registry importer, host aliases, a data folder, the node). */
export type BedOptions = RealKubevirtOptions;

/**
 * The bed's default: exporter Pods on the real node (real kubelet, containerd, CoreDNS,
 * kube-proxy), with the operator's image imported there for Pods of the operator's own.
 * A test's bed options are laid over it; `{ node: 'stand-in' }` keeps them on the kubelet
 * stand-in.
 */
export const REAL_NODE: BedOptions =
  // For a measure of what the real node costs: the same suites with exporter Pods on the stand-in.
  process.env.SERVERIMAGE_TESTBED_NODE === 'stand-in'
    ? { node: 'stand-in' }
    : { node: 'real', nodeImages: ['operator'] };

/**
 * What a ServerImage test file stands on: our CRDs, the KubeVirt bed (KubeVirt's real
 * virt-controller on a control plane of this test file's own, harness/kubevirt/real/bed.ts;
 * by default with the real node, REAL_NODE), an anonymous registry read back by crane (on
 * the host's end of the node's link, where the node's Pods reach it, fault proxy included),
 * a client, and the in-process operator with `operatorFlags` (none when null).
 */
export async function startServerImageBed(
  operatorFlags: string[] | null = [],
  bedOptions: BedOptions = {},
): Promise<ServerImageBed> {
  // The bed first: it points kubeConfig() at its own control plane.
  const sim = await startRealKubevirt({ ...REAL_NODE, ...bedOptions });
  let registry: TestRegistry | undefined;
  let operator: InProcessOperator | undefined;
  try {
    await installProjectCrds();
    registry = await startRegistry(bedRegistryOptions(sim));
    // The transfer Pods run the operator's image: imported into the node while it started.
    await sim.realNode?.imported();
    operator = operatorFlags ? await startOperator(operatorFlags) : undefined;
  } catch (err) {
    await sim.stop();
    await registry?.stop();
    throw err;
  }
  const started = registry;
  const bed: ServerImageBed = {
    sim,
    registry: started,
    crane: await craneFor(started),
    client: new SimTestClient(kubeConfig()),
    operator,
    async stop() {
      // The operator given now (serverImageTestFile's watchOwnNamespace starts it later).
      await bed.operator?.stop();
      await sim.stop();
      await started.stop();
    },
  };
  return bed;
}

/** A registry's options on this bed: with a real node, on the host's end of its link (Pods reach it there). */
export function bedRegistryOptions(sim: RealKubevirt, options: RegistryOptions = {}): RegistryOptions {
  return sim.realNode ? { address: sim.realNode.network.hostIp, ...options } : options;
}

/** A test file's bed and namespace, set once its beforeAll has run. */
export interface ServerImageTestFile {
  readonly bed: ServerImageBed;
  readonly sim: RealKubevirt;
  readonly operator: InProcessOperator | undefined;
  readonly registry: TestRegistry;
  readonly crane: Crane;
  readonly client: SimTestClient;
  readonly ns: string;
}

/**
 * The header every ServerImage test file had: start the bed before its tests (with
 * `operatorFlags`, as startServerImageBed), make its namespace, stop the bed after, and
 * (`checkNothingLeftBehind`) check after each test that no child or upload is left.
 */
export function serverImageTestFile(
  options: {
    namespace?: string;
    operatorFlags?: string[] | null;
    simOptions?: BedOptions;
    checkNothingLeftBehind?: boolean;
    /** The operator watches this file's namespace only (others may run operators of their own). */
    watchOwnNamespace?: boolean;
  } = {},
): ServerImageTestFile {
  let bed: ServerImageBed | undefined;
  let ns: string | undefined;
  beforeAll(async () => {
    const later = options.watchOwnNamespace && options.namespace && options.operatorFlags !== null;
    bed = await startServerImageBed(later ? null : options.operatorFlags, options.simOptions);
    if (options.namespace) ns = await createNamespace(options.namespace);
    if (later)
      bed.operator = await startOperator([...(options.operatorFlags ?? []), `--watch-namespaces=${ns}`]);
  }, 240_000); // the bed with the real node starts in 25-60 s, more on a loaded machine
  afterAll(() => bed?.stop());
  if (options.checkNothingLeftBehind) {
    afterEach(() => expectNothingLeftBehind(file.client, file.ns, [file.registry]));
  }
  const started = () => {
    if (!bed) throw new Error('the test bed is not started yet (use it inside a test or hook)');
    return bed;
  };
  const file: ServerImageTestFile = {
    get bed() {
      return started();
    },
    get sim() {
      return started().sim;
    },
    get operator() {
      return started().operator;
    },
    get registry() {
      return started().registry;
    },
    get crane() {
      return started().crane;
    },
    get client() {
      return started().client;
    },
    get ns() {
      if (ns === undefined) throw new Error('this test file asked for no namespace');
      return ns;
    },
  };
  return file;
}
