// Preconditions before anything is touched (issue 9), applied with kubectl in the orders
// GitOps tools use: storage that comes after the VM is waited for; the registry is checked
// (Secret, reachability, credentials, allowed host) before any VirtualMachineSnapshot is
// made, which the API server's audit log proves. On KubeVirt's real virt-controller, which
// keeps the VMs' status while their volumes are missing and takes the snapshots.
import { stringify } from 'yaml';
import { type Crane } from '../harness/crane.js';
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { VM } from '../harness/kubevirt/api.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { startOperator, type InProcessOperator } from '../harness/operator.js';
import { freePort } from '../harness/ports.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { createNamespace, kubectl } from '../harness/testbed.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import {
  bedRegistryOptions,
  SERVERIMAGE,
  conditionOf,
  expectNothingLeftBehind,
  serverImage,
  waitForPhase,
  startServerImageBed,
  type ServerImageBed,
} from './serverimage-fixtures.js';
import { completedRequests, type AuditEvent } from '../harness/audit-log.js';

const RETRY_TIMEOUT_S = 15;
let bed: ServerImageBed;
let registry: TestRegistry;
let authRegistry: TestRegistry;
let crane: Crane;
let client: SimTestClient;
let ns: string;
/** Watched only by the operator with --allowed-registries. */
let nsAllowed: string;
let allowing: InProcessOperator | undefined;
let watching: InProcessOperator | undefined;
let recorder: ReturnType<typeof recordManagers> | undefined;

beforeAll(async () => {
  // The bed first (its own control plane), then the namespaces, then the operators watching them.
  bed = await startServerImageBed(null);
  ns = await createNamespace('si-pre');
  nsAllowed = await createNamespace('si-allowed');
  recorder = recordManagers(ns);
  await recorder.start();
  watching = await startOperator([
    `--watch-namespaces=${ns}`,
    `--registry-retry-timeout=${RETRY_TIMEOUT_S}s`,
    // A VM whose claim comes late is ErrorUnschedulable until kube-scheduler's retry places
    // its launcher Pod: over the test flags' 6 s on a loaded machine (seen once).
    '--server-state-timeout=15s',
  ]);
  ({ registry, crane, client } = bed);
  authRegistry = await startRegistry(bedRegistryOptions(bed.sim, { auth: 'basic' }));
  allowing = await startOperator([
    `--watch-namespaces=${nsAllowed}`,
    '--allowed-registries=harbor.example.com,*.internal.example.com',
  ]);
}, 180_000); // the real-controller bed starts in 12-25 s, more on a loaded machine

afterAll(async () => {
  if (recorder) {
    await recorder.stop();
    // The snapshots and exports of the images made here: their status was virt-controller's alone.
    expectStatusByVirtController(recorder);
  }
  await allowing?.stop();
  await watching?.stop();
  await bed?.stop();
  await authRegistry?.stop();
});

/** `kubectl apply -f -`, as a user or a GitOps tool does. */
async function apply(...objects: object[]): Promise<void> {
  const result = await kubectl(['apply', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
  if (result.code !== 0) throw new Error(`kubectl apply failed: ${result.stderr}`);
}

const vmManifest = (namespace: string, name: string, claimName: string) => ({
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name, namespace },
  spec: {
    runStrategy: 'Always',
    template: {
      spec: {
        domain: { devices: {}, resources: { requests: { memory: '64Mi' } } },
        volumes: [{ name: 'rootdisk', persistentVolumeClaim: { claimName } }],
      },
    },
  },
});

const pvcManifest = (namespace: string, name: string, size = '1Mi') => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace, annotations: { [Ann.diskSize]: size } },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } } },
});

const basicAuthSecret = (namespace: string, name: string, username: string, password: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  type: 'kubernetes.io/basic-auth',
  stringData: { username, password },
});

/** VirtualMachineSnapshot creates the API server saw for `name`'s snapshot (name-<uid>). */
function snapshotCreates(namespace: string, siName: string): AuditEvent[] {
  return completedRequests().filter(
    (e) =>
      e.verb === 'create' &&
      e.objectRef?.resource === 'virtualmachinesnapshots' &&
      e.objectRef.namespace === namespace &&
      (e.objectRef.name ?? '').startsWith(`${siName}-`),
  );
}

/** The audit log is written in batches of up to 1 s: what it says after those landed. */
async function settledSnapshotCreates(namespace: string, siName: string): Promise<AuditEvent[]> {
  await new Promise((resolve) => setTimeout(resolve, 2500));
  return snapshotCreates(namespace, siName);
}

/** `kubectl describe` of a ServerImage, printed for people reading the test output (and the note). */
async function describeForTheRecord(namespace: string, name: string, title: string): Promise<string> {
  const result = await kubectl(['describe', 'serverimage', name, '-n', namespace]);
  expect(result.code).toBe(0);
  process.stderr.write(`\n[kubectl describe, ${title}]\n${result.stdout}\n`);
  return result.stdout;
}

const readyOf = async (namespace: string, name: string) =>
  conditionOf((await client.get(SERVERIMAGE, namespace, name))!, 'Ready');

test('kubectl apply of the ServerImage, then the VM, then its PVC seconds later: Active', async () => {
  await apply(serverImage(ns, 'late-pvc-image', 'late-pvc', registry));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await apply(vmManifest(ns, 'late-pvc', 'late-pvc-rootdisk'));
  await until(
    'the ServerImage to wait for the volume',
    async () => (await readyOf(ns, 'late-pvc-image'))?.reason === 'WaitingForVolume',
  );
  expect((await readyOf(ns, 'late-pvc-image'))?.message).toContain(
    'PersistentVolumeClaim late-pvc-rootdisk not found',
  );
  // What virt-controller shows meanwhile (a state the operator reads as waiting for the volume).
  await client.waitForVmStatus(ns, 'late-pvc', 'ErrorPvcNotFound');
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await apply(pvcManifest(ns, 'late-pvc-rootdisk'));
  const sha = await client.pvcSha256(ns, 'late-pvc-rootdisk');
  const si = await waitForPhase(client, ns, 'late-pvc-image', 'Active');
  expect(await imageDiskSha256(crane, si.status.images[0].reference)).toBe(sha);
  expect(si.status.images[0].diskSize).toBe(1024 * 1024);
  expect(si.status.images[0].size).toBeGreaterThan(0);
  expect(si.status.retry).toBeUndefined();
  await expectNothingLeftBehind(client, ns, [registry]);
});

test('a VM whose state KubeVirt has not reported yet: the image says so, then goes on once it is', async () => {
  await bed.sim.withVirtControllerPaused(async () => {
    await apply(pvcManifest(ns, 'unreported-rootdisk'), vmManifest(ns, 'unreported', 'unreported-rootdisk'));
    await apply(serverImage(ns, 'unreported-image', 'unreported', registry));
    await until('the ServerImage to say KubeVirt has not reported the state', async () =>
      /^KubeVirt has not reported the state of VirtualMachine unreported yet; waiting up to /.test(
        (await readyOf(ns, 'unreported-image'))?.message ?? '',
      ),
    );
    expect((await client.get(VM, ns, 'unreported'))?.status?.printableStatus).toBeUndefined();
  });
  await waitForPhase(client, ns, 'unreported-image', 'Active');
  await expectNothingLeftBehind(client, ns, [registry]);
});

test('a PVC that never appears: Error VolumeNotReady after the server-state timeout, nothing snapshotted', async () => {
  await apply(
    vmManifest(ns, 'no-pvc', 'no-pvc-rootdisk'),
    serverImage(ns, 'no-pvc-image', 'no-pvc', registry),
  );
  const si = await waitForPhase(client, ns, 'no-pvc-image', 'Error', 45_000);
  expect(conditionOf(si, 'Ready')).toMatchObject({ reason: 'VolumeNotReady' });
  expect(conditionOf(si, 'Ready')?.message).toMatch(
    /^Gave up waiting for volume rootdisk: PersistentVolumeClaim no-pvc-rootdisk not found \(waited \d+s\)/,
  );
  expect(await settledSnapshotCreates(ns, 'no-pvc-image')).toEqual([]);
  expect(await describeForTheRecord(ns, 'no-pvc-image', 'failed: a PVC that never appeared')).toMatch(
    /Reason:\s+VolumeNotReady/,
  );
});

test('credentials Secret missing: it waits without a snapshot; the Secret applied late: Active', async () => {
  await apply(
    pvcManifest(ns, 'late-secret-rootdisk'),
    vmManifest(ns, 'late-secret', 'late-secret-rootdisk'),
    serverImage(ns, 'late-secret-image', 'late-secret', authRegistry, {
      registry: { credentialsSecretRef: { name: 'late-regcred' } },
    }),
  );
  await until(
    'the registry precondition to fail on the missing Secret a second time',
    async () => {
      const si = await client.get(SERVERIMAGE, ns, 'late-secret-image');
      return (si?.status?.retry?.attempts ?? 0) >= 2 ? si : undefined;
    },
    20_000,
  );
  const ready = await readyOf(ns, 'late-secret-image');
  expect(ready).toMatchObject({ reason: 'WaitingForRegistry' });
  expect(ready?.message).toContain('CredentialsNotFound');
  expect(await settledSnapshotCreates(ns, 'late-secret-image')).toEqual([]);
  expect(
    await describeForTheRecord(ns, 'late-secret-image', 'waiting: the credentials Secret not applied yet'),
  ).toMatch(/Reason:\s+WaitingForRegistry/);

  const secretApplied = new Date();
  await apply(basicAuthSecret(ns, 'late-regcred', authRegistry.username!, authRegistry.password!));
  const si = await waitForPhase(client, ns, 'late-secret-image', 'Active', 60_000);
  expect(conditionOf(si, 'RegistryReady')?.status).toBe('True');
  const creates = await settledSnapshotCreates(ns, 'late-secret-image');
  expect(creates).toHaveLength(1);
  // Second precision in audit timestamps: the snapshot came after the Secret.
  expect(new Date(creates[0]!.requestReceivedTimestamp).getTime()).toBeGreaterThanOrEqual(
    secretApplied.getTime() - 1000,
  );
  await expectNothingLeftBehind(client, ns, [authRegistry]);
});

test('a wrong password: Error RegistryUnauthorized within seconds, zero snapshots', async () => {
  const started = Date.now();
  await apply(
    basicAuthSecret(ns, 'wrong-regcred', authRegistry.username!, 'not-the-password'),
    pvcManifest(ns, 'wrong-pw-rootdisk'),
    vmManifest(ns, 'wrong-pw', 'wrong-pw-rootdisk'),
    serverImage(ns, 'wrong-pw-image', 'wrong-pw', authRegistry, {
      registry: { credentialsSecretRef: { name: 'wrong-regcred' } },
    }),
  );
  const si = await waitForPhase(client, ns, 'wrong-pw-image', 'Error', 20_000);
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(conditionOf(si, 'Ready')?.reason).toBe('RegistryUnauthorized');
  expect(conditionOf(si, 'RegistryReady')).toMatchObject({ status: 'False', reason: 'RegistryUnauthorized' });
  expect(await settledSnapshotCreates(ns, 'wrong-pw-image')).toEqual([]);
  expect(authRegistry.openUploads()).toEqual([]);
});

test('an unreachable registry: no snapshot while it retries, Error past the retry timeout', async () => {
  const deadPort = await freePort();
  const repository = `127.0.0.1:${deadPort}/vms/unreachable`;
  await apply(
    pvcManifest(ns, 'unreachable-rootdisk'),
    vmManifest(ns, 'unreachable', 'unreachable-rootdisk'),
    serverImage(ns, 'unreachable-image', 'unreachable', registry, {
      registry: { repository, insecure: true },
    }),
  );
  const waiting = await until(
    'the ServerImage to wait for the registry',
    async () => {
      const ready = await readyOf(ns, 'unreachable-image');
      return ready?.reason === 'WaitingForRegistry' ? ready : undefined;
    },
    20_000,
  );
  expect(waiting.message).toMatch(/RegistryUnavailable: .*connection failed \(ECONNREFUSED\)/);
  expect(waiting.message).toMatch(/nothing is snapshotted until the registry answers/);
  const si = await waitForPhase(client, ns, 'unreachable-image', 'Error', (RETRY_TIMEOUT_S + 5) * 1000);
  expect(conditionOf(si, 'Ready')?.reason).toBe('RegistryUnavailable');
  expect(conditionOf(si, 'Ready')?.message).toMatch(/gave up after \d+s \(\d+ attempts\)/);
  expect(await settledSnapshotCreates(ns, 'unreachable-image')).toEqual([]);
});

test('a registry outside --allowed-registries: Error RegistryNotAllowed, and the registry saw no request', async () => {
  const before = registry.requests.length;
  await apply(
    pvcManifest(nsAllowed, 'elsewhere-rootdisk'),
    vmManifest(nsAllowed, 'elsewhere', 'elsewhere-rootdisk'),
    serverImage(nsAllowed, 'elsewhere-image', 'elsewhere', registry),
  );
  const si = await waitForPhase(client, nsAllowed, 'elsewhere-image', 'Error');
  expect(conditionOf(si, 'Ready')?.reason).toBe('RegistryNotAllowed');
  expect(conditionOf(si, 'Ready')?.message).toContain(
    `Registry ${registry.host} is not one this operator may push to`,
  );
  expect(registry.requests.slice(before)).toEqual([]);
  expect(await settledSnapshotCreates(nsAllowed, 'elsewhere-image')).toEqual([]);
});
