// Failures a person can read (issue 9): a phase that fails on an API error shows why in
// `kubectl describe` (the operator runs as a ServiceAccount missing one RBAC rule), and the
// JSON logs follow an image through an export resume and a registry retry, with no
// credential or token in any: the operator's, with its namespace/name on each line, say its
// phases; the push is its transfer Pod's, so the resume and the retry are in that Pod's
// container log (read on the bed's real node while the Pod lives: it is deleted once the
// image is Active), a Pod named for the image. And the operator
// as users run it, a process: probes and metrics that move as an image is made (its kills,
// restarts and leader hand-over are serverimage-restart-cases.ts).
// On KubeVirt's real virt-controller: the snapshot is its, the export's connections are
// dropped at the bed's Service proxy in front of the real exporter Pod, and the operator
// process reaches that Service by name through the bed's cluster DNS.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { VM } from '../harness/kubevirt/api.js';
import { Ann } from '../harness/kubevirt/annotations.js';
import { SimTestClient, until } from '../harness/kubevirt/testing.js';
import {
  startOperator,
  startOperatorProcess,
  startProbedOperatorProcess,
  type InProcessOperator,
} from '../harness/operator.js';
import { dashboardQueries, ruleQueries } from '../harness/chart-queries.js';
import { freePort } from '../harness/ports.js';
import type { ManagedProcess } from '../harness/process.js';
import { metricNames, sampledNames, withoutGrafanaVariables } from '../harness/promql.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { createNamespace, kubeConfig, kubectl } from '../harness/testbed.js';
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import { DEPLOY_DIR, renderChart } from './install-fixtures.js';
import { collectPodLogs } from './pod-logs.js';
import {
  bedRegistryOptions,
  SERVERIMAGE,
  conditionOf,
  createServerImage,
  createVm,
  expectNothingLeftBehind,
  serverImage,
  waitForPhase,
  startServerImageBed,
  type ServerImageBed,
} from './serverimage-fixtures.js';
import { SCHEDULE, backupsOf, createSchedule, phaseOf } from './serverimageschedule-fixtures.js';

let bed: ServerImageBed;
let client: SimTestClient;
let tokenRegistry: TestRegistry;
let limited: InProcessOperator | undefined;
const processes: ManagedProcess[] = [];

beforeAll(async () => {
  bed = await startServerImageBed(null);
  ({ client } = bed);
  tokenRegistry = await startRegistry(bedRegistryOptions(bed.sim, { auth: 'token' }));
}, 180_000); // the real-controller bed starts in 12-25 s, more on a loaded machine

afterAll(async () => {
  await limited?.stop();
  for (const p of processes) await p.stop();
  await bed?.stop();
  await tokenRegistry?.stop();
});

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** A ServiceAccount in `ns` bound to deploy/'s ClusterRole with `change` applied to its rules. */
async function serviceAccountWithRules(ns: string, change: (rules: Rule[]) => Rule[]): Promise<KubeConfig> {
  const admin = kubeConfig();
  const role = parse(readFileSync(`${DEPLOY_DIR}/cluster-role.yaml`, 'utf8')) as { rules: Rule[] };
  const name = `serverimage-operator-${ns}`;
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const core = admin.makeApiClient(CoreV1Api);
  await rbac.createClusterRole({ body: { metadata: { name }, rules: change(role.rules) } });
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'operator' } } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: ns }],
    },
  });
  const token = await core.createNamespacedServiceAccountToken({
    namespace: ns,
    name: 'operator',
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const kc = new KubeConfig();
  const cluster = admin.getCurrentCluster()!;
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'operator', token: token.status!.token }],
    contexts: [{ name: 'operator', cluster: cluster.name, user: 'operator' }],
    currentContext: 'operator',
  });
  return kc;
}

test('a phase failing on an API error (no RBAC to create Secrets) says so in kubectl describe', async () => {
  const ns = await createNamespace('si-forbidden');
  const kc = await serviceAccountWithRules(ns, (rules) =>
    rules.map((r) =>
      r.resources.includes('secrets') ? { ...r, verbs: r.verbs.filter((v) => v !== 'create') } : r,
    ),
  );
  limited = await startOperator([`--watch-namespaces=${ns}`], kc);
  await createVm(client, ns, 'locked');
  await createServerImage(client, serverImage(ns, 'locked-image', 'locked', bed.registry));
  const ready = await until(
    'Ready to say what failed',
    async () => {
      const c = conditionOf((await client.get(SERVERIMAGE, ns, 'locked-image'))!, 'Ready');
      return c?.reason === 'ApiError' ? c : undefined;
    },
    30_000,
  );
  expect(ready.message).toMatch(
    /^creating Secret si-forbidden-\w+\/locked-image-\w+-export-token: .*forbidden/,
  );
  // The event is recorded even though the phase threw; events are written apart from the
  // status (a loaded machine showed the status a moment before the event).
  const describe = await until('kubectl describe to show the Warning event', async () => {
    const out = await kubectl(['describe', 'serverimage', 'locked-image', '-n', ns]);
    return out.code === 0 && /Warning\s+ApiError/.test(out.stdout) ? out : undefined;
  });
  process.stderr.write(`\n[kubectl describe, a phase failing on an API error]\n${describe.stdout}\n`);
  expect(describe.stdout).toMatch(/Reason:\s+ApiError/);
  expect(describe.stdout).toContain('creating Secret');
  // Still Saving, retried with backoff: not a terminal verdict.
  expect((await client.get(SERVERIMAGE, ns, 'locked-image'))!.status.phase).toBe('Saving');
  // Each reconcile error is logged once, by the controller, with the image's key.
  const lines = readFileSync(limited.logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: number; msg: string; serverimage?: string });
  const failures = lines.filter((l) => /reconcile failed/.test(l.msg));
  expect(failures.length).toBeGreaterThan(0);
  expect(failures.every((l) => l.level === 50 && l.serverimage === `${ns}/locked-image`)).toBe(true);
  await limited.stop();
  limited = undefined;
});

test('JSON logs: one line for an export resume and one for a registry retry, with the name; no secret anywhere', async () => {
  const ns = await createNamespace('si-logs');
  const recorder = recordManagers(ns);
  await recorder.start();
  await createVm(client, ns, 'logged', {
    disks: [{ volume: 'rootdisk', size: 3 * 1024 * 1024 }],
    annotations: { [Ann.faultDropAfterBytes]: String(1024 * 1024) },
  });
  const { username, password } = tokenRegistry;
  await client.core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'regcred' },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: username!, password: password! },
    },
  });
  // The first two chunk uploads fail: resumed by the client, then the push goes on.
  tokenRegistry.faults!.respond(503, { method: 'PATCH', times: 2 });
  const operator = startOperatorProcess([`--watch-namespaces=${ns}`], 'logs');
  processes.push(operator);
  const podLogs = collectPodLogs(bed.sim.realNode!.podLogsDir, ns);
  await createServerImage(
    client,
    serverImage(ns, 'logged-image', 'logged', tokenRegistry, {
      registry: { credentialsSecretRef: { name: 'regcred' } },
    }),
  );
  await waitForPhase(client, ns, 'logged-image', 'Active', 90_000);
  // Its clean-up (snapshot, export, transfer Pod) is the operator's work too: let it finish first.
  await expectNothingLeftBehind(client, ns, [tokenRegistry]);
  await operator.stop();
  const byPod = podLogs.stop();
  const text = readFileSync(operator.logFile, 'utf8');
  const json = (l: string) => JSON.parse(l) as Record<string, unknown>;
  const lines = text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map(json);
  const ours = lines.filter((l) => l.serverimage === `${ns}/logged-image`);
  expect(ours.some((l) => l.msg === 'phase changed' && l.to === 'Saving')).toBe(true);
  expect(ours.some((l) => l.msg === 'phase changed' && l.to === 'Active')).toBe(true);

  // The transfer Pod's log (one Pod: the first attempt resumed and retried, it did not fail).
  const transferPods = [...byPod.keys()].filter((pod) => /^logged-image-[0-9a-f]+-transfer-\d+$/.test(pod));
  expect(transferPods).toHaveLength(1);
  const podText = byPod.get(transferPods[0]!)!;
  const pushed = podText.filter((l) => l.startsWith('{')).map(json);
  expect(pushed.some((l) => l.msg === 'transfer started')).toBe(true);
  const resumes = pushed.filter((l) => l.msg === 'export stream dropped; resuming at offset');
  expect(resumes.length).toBeGreaterThanOrEqual(1);
  expect(typeof resumes[0]!.offset).toBe('number');
  const registryRetries = pushed.filter((l) =>
    /blob chunk failed; resuming|registry request failed; retrying/.test(String(l.msg)),
  );
  expect(registryRetries.length).toBeGreaterThanOrEqual(1);
  expect(registryRetries[0]).toMatchObject({ attempt: 1 });
  // Debug level (the operator's, passed to its Pods): the HTTP requests, without headers.
  const requests = [...ours, ...pushed].filter((l) => l.msg === 'registry request');
  expect(pushed.some((l) => l.msg === 'registry request')).toBe(true);
  expect(requests.every((l) => l.headers === undefined && !String(l.url).includes('?'))).toBe(true);
  process.stderr.write(
    `\n[operator logs, ${ns}/logged-image]\n${ours
      .filter((l) => l.msg !== 'registry request')
      .map((l) => JSON.stringify(l))
      .join('\n')}\n[transfer Pod ${transferPods[0]}]\n${pushed
      .filter((l) => l.msg !== 'registry request')
      .map((l) => JSON.stringify(l))
      .join('\n')}\n`,
  );

  const tokens = tokenRegistry.tokenServer!.requests.map((r) => r.token).filter((t): t is string => !!t);
  expect(tokens.length).toBeGreaterThan(0);
  const secrets = [
    password!,
    Buffer.from(password!).toString('base64'),
    Buffer.from(`${username}:${password}`).toString('base64'),
    ...tokens,
  ];
  const everyLine = [...text.split('\n'), ...[...byPod.values()].flat()];
  for (const line of everyLine) {
    for (const secret of secrets) expect(line.includes(secret)).toBe(false);
  }
  expect(everyLine.join('\n')).not.toMatch(/authorization/i);
  await recorder.stop();
  expectStatusByVirtController(recorder);
});

/** The value of one sample line of Prometheus text, e.g. 'workqueue_adds_total{name="serverimage",controller="serverimage"}'. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('an operator process: probes answer and metrics move as an image is made', async () => {
  const ns = await createNamespace('si-process');
  const recorder = recordManagers(ns);
  await recorder.start();
  // Only this namespace: the images of the tests above must not move the counters.
  const op = await startProbedOperatorProcess('metrics', [`--watch-namespaces=${ns}`]);
  processes.push(op.process);
  await until('healthz', async () => (await op.probe('/healthz')).status === 200);
  await until('readyz', async () => (await op.probe('/readyz')).status === 200);
  const before = (await op.metrics()).text;
  expect(
    sample(before, 'controller_runtime_reconcile_total{controller="serverimage",result="success"}'),
  ).toBe(0);

  const size = 2 * 1024 * 1024;
  await createVm(client, ns, 'measured', { disks: [{ volume: 'rootdisk', size }] });
  await createServerImage(client, serverImage(ns, 'measured-image', 'measured', bed.registry));
  await waitForPhase(client, ns, 'measured-image', 'Active');

  const after = (
    await until('the Active image counted', async () => {
      const m = await op.metrics();
      return sample(m.text, 'serverimage_images{phase="Active",reason="Active"}') === 1 ? m : undefined;
    })
  ).text;
  const counted = [
    'controller_runtime_reconcile_total{controller="serverimage",result="success"}',
    'workqueue_adds_total{name="serverimage",controller="serverimage"}',
  ].map((k) => `${k} ${sample(after, k)}`);
  process.stderr.write(`\n[metrics after one image]\n${counted.join('\n')}\n`);
  expect(
    sample(after, 'controller_runtime_reconcile_total{controller="serverimage",result="success"}'),
  ).toBeGreaterThan(3);
  expect(sample(after, 'workqueue_adds_total{name="serverimage",controller="serverimage"}')).toBeGreaterThan(
    3,
  );
  expect(sample(after, 'serverimage_pushed_bytes_total')).toBe(size);
  expect(sample(after, 'serverimage_push_duration_seconds_count')).toBe(1);
  expect(after).toContain('process_resident_memory_bytes');
  await expectNothingLeftBehind(client, ns, [bed.registry]);
  await op.process.stop();
  await recorder.stop();
  expectStatusByVirtController(recorder);
});

test("the chart's dashboard and alerts read only series this operator exports, after one image and one schedule run", async () => {
  const ns = await createNamespace('si-dashboard');
  // Leader election on, as the chart runs it: leader_election_master_status exists only then.
  const op = await startProbedOperatorProcess('dashboard', [
    `--watch-namespaces=${ns}`,
    '--leader-elect=true',
    `--leader-election-namespace=${ns}`,
    '--leader-election-id=dashboard',
  ]);
  processes.push(op.process);
  await createVm(client, ns, 'dashed', { disks: [{ volume: 'rootdisk', size: 1024 * 1024 }] });
  await client.patch(VM, ns, 'dashed', { metadata: { labels: { backup: 'dashed' } } });
  await createServerImage(client, serverImage(ns, 'dashed-image', 'dashed', bed.registry));
  await waitForPhase(client, ns, 'dashed-image', 'Active', 90_000);
  await createSchedule(client, ns, 'nightly', bed.registry, {
    schedule: '*/10 * * * * *',
    serverSelector: { matchLabels: { backup: 'dashed' } },
  });
  await until(
    'one Active scheduled backup',
    async () => (await backupsOf(client, ns, 'nightly')).some((si) => phaseOf(si) === 'Active'),
    90_000,
  );
  const text = (
    await until('the schedule gauges and leadership on /metrics', async () => {
      const m = await op.metrics();
      return /^serverimage_schedule_last_success_timestamp_seconds\{/m.test(m.text) &&
        /^leader_election_master_status\{name="dashboard"\} 1$/m.test(m.text)
        ? m
        : undefined;
    })
  ).text;
  // A sample, not only a # TYPE line: a series a panel reads must have a value to show.
  const exposed = sampledNames(text);
  // Only now: a suspended schedule has no next run, and so no next-run series.
  await client.patch(SCHEDULE, ns, 'nightly', { spec: { suspend: true } });

  const [rule] = (await renderChart('dashboard', ns, ['metrics.prometheusRule.enabled=true'])).filter(
    (m) => m.kind === 'PrometheusRule',
  );
  const queries = [
    ...dashboardQueries(),
    ...ruleQueries(rule as unknown as Parameters<typeof ruleQueries>[0]),
  ];
  // A series that has a sample only once a feature this bed cannot run was used: the last
  // Verified time needs an image booted in a real VM (real-vm-verify.test.ts; its collector
  // is unit-tested in test/unit/metrics.test.ts).
  const onlyWithRealVms = new Set(['serverimage_last_verified_timestamp_seconds']);
  const read = new Set<string>();
  const missing: string[] = [];
  for (const { where, expr } of queries) {
    for (const name of metricNames(withoutGrafanaVariables(expr))) {
      read.add(name);
      if (!exposed.has(name) && !onlyWithRealVms.has(name)) missing.push(`${where}: ${name}`);
    }
  }
  process.stderr.write(
    `\n[series the dashboard and alerts read, each with a sample on /metrics]\n${[...read].sort().join('\n')}\n`,
  );
  expect(read.size).toBeGreaterThan(15);
  expect(missing).toEqual([]);
  await op.process.stop();
});

const execFileAsync = promisify(execFile);

test("the helm test's check passes against a ready operator and says why it fails against none", async () => {
  const ns = await createNamespace('si-helmtest');
  const op = await startProbedOperatorProcess('helmtest', [`--watch-namespaces=${ns}`]);
  processes.push(op.process);
  await until('readyz', async () => (await op.probe('/readyz')).status === 200);
  // The script exactly as the rendered test Pod runs it: `node -e <args[0]>`.
  const [pod] = (await renderChart('helmtest', ns)).filter(
    (m) => m.kind === 'Pod' && m.metadata.name === 'helmtest-serverimage-operator-test-ready',
  ) as unknown as {
    spec: { containers: { command: string[]; args: string[]; env: { name: string; value: string }[] }[] };
  }[];
  const container = pod!.spec.containers[0]!;
  expect(container.command).toEqual(['node', '-e']);
  expect(container.env.find((e) => e.name === 'READYZ_URL')!.value).toMatch(
    /^http:\/\/helmtest-serverimage-operator-test-ready\..+:8081\/readyz$/,
  );
  const run = (url: string) =>
    execFileAsync(process.execPath, ['-e', container.args[0]!], {
      env: { ...process.env, READYZ_URL: url, READYZ_WAIT_MS: '0' },
    }).then(
      ({ stdout }) => ({ code: 0, out: stdout }),
      (err: { code: number; stderr: string }) => ({ code: err.code, out: err.stderr }),
    );
  const ready = await run(op.readyzUrl);
  expect(ready).toEqual({ code: 0, out: expect.stringContaining('an operator replica is ready') });
  const nobody = await run(`http://127.0.0.1:${await freePort()}/readyz`);
  expect(nobody.code).toBe(1);
  expect(nobody.out).toMatch(/^no ready operator replica answered http:.*: ECONNREFUSED\n$/);
  await op.process.stop();
});
