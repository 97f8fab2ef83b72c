// The ClusterRole of deploy/ is enough, shown by doing the work with it: the operator
// talks to the API server with a token of its ServiceAccount (TokenRequest, as a pod's
// projected token is) and a ServerImage with registry credentials reaches Active;
// leader election on its Lease works with the same token. On KubeVirt's real
// virt-controller (the bed's own control plane, where deploy/ is applied): the snapshots
// and exports the ServiceAccount creates are taken and served by KubeVirt's controllers,
// the exporter Pods run on the bed's real node (the real kubelet, containerd). Last, the
// way users install it: `helm install` of charts/ runs the operator's own image as two
// Pods on the real node, which reach the API server through the `kubernetes` Service
// (kube-proxy), the exporter through CoreDNS and kube-proxy, and the registry at the
// host's address; the leader's Pod is deleted and another replica takes over; the leader's
// container is SIGKILLed by the runtime while an image is Saving, and whichever replica leads
// next adopts the transfer Pod that pushed on.
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { startScheduleController } from '../../src/controllers/serverimageschedule/controller.js';
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { craneFor } from '../harness/crane.js';
import { installOperator, eventually, type OperatorRelease } from './operator-release.js';
import { imageDiskSha256 } from '../harness/images.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { startRealKubevirt, type RealKubevirt } from '../harness/kubevirt/real/bed.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import { startOperator, type InProcessOperator } from '../harness/operator.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import { LeaderElector } from '../../src/kube/index.js';
import {
  expectStatusByKubelet,
  expectStatusByVirtController,
  recordManagers,
  recordPodStatus,
} from './field-managers.js';
import {
  OPERATOR_NAMESPACE,
  OPERATOR_SA,
  applyDeploy,
  canI,
  mustKubectl,
  OPERATOR_USER,
} from './install-fixtures.js';
import {
  SERVERIMAGE,
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  waitForPhase,
} from './serverimage-fixtures.js';
import { SCHEDULE, backupsOf, createSchedule } from './serverimageschedule-fixtures.js';

let sim: RealKubevirt;
let registry: TestRegistry;
let operator: InProcessOperator | undefined;
let asOperator: KubeConfig;
/** A real exporter Pod is Ready only after its probe's 5 s delay: the test flags' 5 s is too short. */
const EXPORT_TIMEOUT = '--export-timeout=60s';

/** A kubeconfig for the same API server that authenticates as the operator's ServiceAccount. */
async function serviceAccountKubeConfig(): Promise<KubeConfig> {
  const admin = kubeConfig();
  const request = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    namespace: OPERATOR_NAMESPACE,
    name: OPERATOR_SA,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [admin.getCurrentCluster()!],
    users: [{ name: OPERATOR_SA, token: request.status!.token }],
    contexts: [{ name: OPERATOR_SA, cluster: admin.getCurrentCluster()!.name, user: OPERATOR_SA }],
    currentContext: OPERATOR_SA,
  });
  return kc;
}

beforeAll(async () => {
  // The bed first: it points kubeConfig() and kubectl at its own control plane.
  // The operator's image in the node's containerd too, for the chart's Pods.
  sim = await startRealKubevirt({ node: 'real', nodeImages: ['operator'] });
  await applyDeploy();
  // On the host's end of the node's link: the transfer Pods push to it from the node.
  registry = await startRegistry({ auth: 'basic', address: sim.realNode!.network.hostIp });
  asOperator = await serviceAccountKubeConfig();
  await sim.realNode!.imported();
}, 180_000); // the real-controller bed starts in 12-25 s, more on a loaded machine

afterAll(async () => {
  await operator?.stop();
  await sim?.stop();
  await registry?.stop();
});

test('the token really is the ServiceAccount, not an admin', async () => {
  const core = asOperator.makeApiClient(CoreV1Api);
  await expect(core.listNamespacedSecret({ namespace: OPERATOR_NAMESPACE })).rejects.toThrow(/Forbidden|403/);
  expect(await canI(OPERATOR_USER, 'list', 'secrets', { namespace: OPERATOR_NAMESPACE })).toBe(false);
});

test('with only its ClusterRole the operator takes a VM to an Active image through a transfer Pod, reading the credentials Secret', async () => {
  const ns = await createNamespace('as-sa');
  const recorder = recordManagers(ns);
  await recorder.start();
  const exporterPods = recordPodStatus(ns, 'virt-export-');
  await exporterPods.start();
  const client = new SimTestClient(kubeConfig());
  const shas = await createVm(client, ns, 'web');
  await client.core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'regcred' },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: registry.username!, password: registry.password! },
    },
  });
  operator = await startOperator([`--watch-namespaces=${ns}`, EXPORT_TIMEOUT], asOperator);
  await createServerImage(
    client,
    serverImage(ns, 'web-image', 'web', registry, {
      registry: { credentialsSecretRef: { name: 'regcred' } },
    }),
  );
  const si = await waitForPhase(client, ns, 'web-image', 'Active');
  const crane = await craneFor(registry);
  expect(await imageDiskSha256(crane, si.status.images[0].reference)).toBe(shas.rootdisk);

  // Deleting it runs the finalizer as the ServiceAccount: children go, the finalizer is removed.
  await client.custom.deleteNamespacedCustomObject({ ...SERVERIMAGE, namespace: ns, name: 'web-image' });
  await until(
    'ServerImage web-image to be gone',
    async () => !(await client.get(SERVERIMAGE, ns, 'web-image')),
    30_000,
  );
  await expectNothingLeftBehind(client, ns, [registry]);
  expect(readFileSync(operator.logFile, 'utf8')).not.toMatch(/forbidden/i);
  await recorder.stop();
  expectStatusByVirtController(recorder);
  await exporterPods.stop();
  // The exporter Pod ran on the real node: its status is the real kubelet's.
  expectStatusByKubelet(exporterPods.seen(), sim.realNode!.nodeName);
});

test('with only its ClusterRole the schedule controller stamps, rotates and writes status', async () => {
  const ns = await createNamespace('as-sa-schedule');
  const client = new SimTestClient(kubeConfig());
  await createVm(client, ns, 'db', { disks: [{ volume: 'rootdisk', size: 1024 * 1024 }] });
  await client.core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'regcred' },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: registry.username!, password: registry.password! },
    },
  });
  await operator?.stop();
  operator = await startOperator([`--watch-namespaces=${ns}`, EXPORT_TIMEOUT], asOperator);
  const logs = path.join(mkdtempSync(path.join(os.tmpdir(), 'schedule-as-sa-')), 'log');
  const scheduling = await startScheduleController({
    kubeConfig: asOperator,
    config: loadConfig([`--watch-namespaces=${ns}`], {}),
    logger: pino({ level: 'debug' }, createWriteStream(logs)),
  });
  try {
    await createSchedule(client, ns, 'db', registry, {
      schedule: '*/3 * * * * *',
      serverRef: { name: 'db' },
      rotation: 1,
      template: {
        registry: {
          repository: `${registry.host}/backups/{vm}`,
          insecure: !registry.tls,
          credentialsSecretRef: { name: 'regcred' },
        },
      },
    });
    // Two Active backups were made and the older one rotated away: create, delete, status.
    const seen = new Set<string>();
    await until(
      'a backup rotated away',
      async () => {
        const now = await backupsOf(client, ns, 'db');
        for (const si of now) if (si.status?.phase === 'Active') seen.add(si.metadata.name);
        return seen.size >= 2 && now.filter((si) => si.status?.phase === 'Active').length === 1;
      },
      // Each backup's exporter Pod is a real container (Ready after its probe's 5 s delay).
      90_000,
    );
    const schedule = await client.get(SCHEDULE, ns, 'db');
    expect(schedule!.status.servers[0].lastImage).toBeDefined();
    await client.patch(SCHEDULE, ns, 'db', { spec: { suspend: true } });
  } finally {
    await scheduling.stop();
  }
  expect(readFileSync(logs, 'utf8')).not.toMatch(/forbidden/i);
}, 120_000);

test('leader election on its Lease works with the ServiceAccount', async () => {
  const stop = new AbortController();
  let resolveLeading!: () => void;
  const leading = new Promise<void>((resolve) => (resolveLeading = resolve));
  const elector = new LeaderElector({
    kubeConfig: asOperator,
    namespace: OPERATOR_NAMESPACE,
    name: 'serverimage-operator',
    identity: `install-test-${process.pid}`,
    onStartedLeading: () => resolveLeading(),
  });
  const running = elector.run(stop.signal);
  await leading;
  stop.abort();
  await running;
  // Released on stop: the Lease was created, read and updated as the ServiceAccount.
  const lease = await kubeConfig()
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: OPERATOR_NAMESPACE, name: 'serverimage-operator' });
  expect(lease.spec?.holderIdentity ?? '').toBe('');
});

test('installed by helm from charts/: two replicas as Pods on the real node, one leader; a VM imaged; the leader Pod deleted, another replica leads and images the next; a crashed leader (its container SIGKILLed mid-push): its transfer Pod adopted', async () => {
  const node = sim.realNode!;
  const ns = await createNamespace('helm');
  const client = new SimTestClient(kubeConfig());
  // Where the operator's Pods reach a registry: the host's end of the node's link.
  const podRegistry = await startRegistry({ auth: 'basic', address: node.network.hostIp, proxy: false });
  let release: OperatorRelease | undefined;
  try {
    await client.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'regcred' },
        type: 'kubernetes.io/basic-auth',
        stringData: { username: podRegistry.username!, password: podRegistry.password! },
      },
    });
    release = await installOperator({
      release: 'si-helm',
      namespace: 'serverimage-helm',
      node,
      set: [
        `watchNamespaces={${ns}}`,
        `extraArgs={${EXPORT_TIMEOUT}}`,
        // The transfer Pods on the real node too, small (its 2 cores are shared).
        `transfer.nodeSelector.kubernetes\\.io/hostname=${node.nodeName}`,
        'transfer.resources.requests.cpu=50m',
        'transfer.resources.requests.memory=64Mi',
      ],
    });
    const pods = await release.pods();
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      // Ready by its own probes, run by the real kubelet, as the chart sets it up.
      expect(pod.spec?.nodeName).toBe(node.nodeName);
      expect(pod.spec?.serviceAccountName).toBe('si-helm-serverimage-operator');
      expect(pod.spec?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
      expect(pod.spec?.containers[0]?.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      const statusManagers = (pod.metadata?.managedFields ?? [])
        .filter((f) => f.subresource === 'status')
        .map((f) => f.manager);
      expect(statusManagers).toContain('kubelet');
    }
    // The runtime's own listing has the operator's containers.
    expect(await node.containerd.ctr(['containers', 'ls'])).toContain(node.image('operator'));
    const names = pods.map((p) => p.metadata!.name!);
    const leader = await eventually('a leader among the replicas', () => release!.leader());
    expect(names).toContain(leader);

    const web = await createVm(client, ns, 'web');
    await createServerImage(
      client,
      serverImage(ns, 'web-image', 'web', podRegistry, {
        registry: { credentialsSecretRef: { name: 'regcred' } },
      }),
    );
    const crane = await craneFor(podRegistry);
    const si = await waitForPhase(client, ns, 'web-image', 'Active');
    expect(await imageDiskSha256(crane, si.status.images[0].reference)).toBe(web.rootdisk);

    // A restart as a cluster has one: the leader's Pod deleted (SIGTERM, the Lease released).
    await mustKubectl(['delete', 'pod', '--namespace', release.namespace, leader, '--wait=false']);
    const next = await eventually(
      'the other replica to lead',
      async () => {
        const now = await release!.leader();
        return now && now !== leader ? now : undefined;
      },
      90_000,
    );
    // The other replica or the ReplicaSet's replacement, whichever took the released Lease first.
    expect((await release.pods()).map((p) => p.metadata!.name)).toContain(next);
    const db = await createVm(client, ns, 'db');
    await createServerImage(
      client,
      serverImage(ns, 'db-image', 'db', podRegistry, {
        registry: { credentialsSecretRef: { name: 'regcred' } },
      }),
    );
    const second = await waitForPhase(client, ns, 'db-image', 'Active');
    expect(await imageDiskSha256(crane, second.status.images[0].reference)).toBe(db.rootdisk);
    // The ReplicaSet replaced the deleted Pod.
    await eventually('two replicas again', async () => {
      const now = await release!.pods();
      const ready = now.filter((p) =>
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return ready.length === 2 && !ready.some((p) => p.metadata?.name === leader) ? true : undefined;
    });

    // A crash as a cluster has one (OOM, a panic): the leader's container SIGKILLed by the
    // runtime while its image is Saving. Its transfer Pod pushes on; the kubelet restarts the
    // container or the other replica takes the Lease once it expires; whichever leads adopts
    // that Pod: one transfer, bytes exact, nothing left.
    const crashy = await createVm(client, ns, 'crashy', {
      annotations: { [Ann.faultBytesPerSecond]: String(256 * 1024) },
    });
    await createServerImage(
      client,
      serverImage(ns, 'crashy-image', 'crashy', podRegistry, {
        registry: { credentialsSecretRef: { name: 'regcred' } },
      }),
    );
    await eventually(
      'crashy-image under way',
      async () =>
        ((await client.get(SERVERIMAGE, ns, 'crashy-image'))?.status?.progress?.bytesDone ?? 0) > 0
          ? true
          : undefined,
      120_000,
    );
    const transferPods = async () =>
      (
        await client.core.listNamespacedPod({
          namespace: ns,
          labelSelector: 'app.kubernetes.io/component=transfer,serverimage.io/serverimage=crashy-image',
        })
      ).items.map((p) => p.metadata!.name!);
    const pushing = await transferPods();
    expect(pushing).toHaveLength(1);
    const crashed = (await eventually('the leader', () => release!.leader()))!;
    const pod = (await release.pods()).find((p) => p.metadata?.name === crashed)!;
    const containerId = pod.status!.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');
    const seenTransfers = new Set(pushing);
    const sampler = setInterval(
      () =>
        void transferPods().then(
          (names) => names.forEach((n) => seenTransfers.add(n)),
          () => undefined,
        ),
      100,
    );
    await node.containerd.ctr(['tasks', 'kill', '--signal', 'SIGKILL', containerId]);
    // The transfer is not the operator's process: its Pod pushes on.
    const [transfer] = (
      await client.core.listNamespacedPod({
        namespace: ns,
        labelSelector: 'app.kubernetes.io/component=transfer,serverimage.io/serverimage=crashy-image',
      })
    ).items;
    expect(transfer?.status?.phase).toBe('Running');
    const crashedSi = await waitForPhase(client, ns, 'crashy-image', 'Active', 180_000).finally(() =>
      clearInterval(sampler),
    );
    expect([...seenTransfers]).toEqual(pushing);
    expect(await imageDiskSha256(crane, crashedSi.status.images[0].reference)).toBe(crashy.rootdisk);
    // The kubelet saw the crash (the container restarted) and no second transfer Pod was made.
    const after = (await release.pods()).find((p) => p.metadata?.name === crashed);
    expect(after?.status?.containerStatuses?.[0]?.restartCount).toBeGreaterThanOrEqual(1);
    expect(after?.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(137);
    expect(pushing[0]).toMatch(/-transfer-1$/);
    await expectNothingLeftBehind(client, ns, [podRegistry]);
  } finally {
    await release?.uninstall();
    await podRegistry.stop();
  }
}, 600_000);
