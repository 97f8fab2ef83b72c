// The chart refuses a wrong value before anything reaches a cluster: `helm lint`,
// `helm template` and `helm install` check values.schema.json and name the field. The
// default values and the example values (ci/full-values.yaml) pass, and render what they ask for.
import path from 'node:path';
import { CHART_DIR, helm, parseManifests, toYamlStream, type Manifest } from './install-fixtures.js';
import { createNamespace, kubectl } from '../harness/testbed.js';

const FULL_VALUES = path.join(CHART_DIR, 'ci', 'full-values.yaml');

/** helm's stderr for a command that must fail; fails the test if it succeeds. */
async function refused(args: string[]): Promise<string> {
  try {
    await helm(args);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`helm ${args.join(' ')} succeeded; it should have refused the values`);
}

// [what is wrong, --set, what the message must name]
const WRONG: [string, string, RegExp][] = [
  ['a string for a number', 'replicaCount=abc', /replicaCount.*(integer|number)/s],
  ['an unknown key', 'replicaCont=2', /replicaCont\b.*not allowed|not allowed.*replicaCont\b/s],
  ['an unknown nested key', 'metrics.serviceMonitor.enable=true', /serviceMonitor.*enable\b/s],
  ['a bad enum', 'logLevel=verbose', /logLevel.*(trace|one of)/s],
  ['beyond the flag table range', 'workers=65', /workers.*want 64/s],
  ['a bad pull policy', 'image.pullPolicy=Sometimes', /pullPolicy/],
  ['a bad anti-affinity preset', 'podAntiAffinity=strict', /podAntiAffinity/],
  ['a misspelt extra flag', 'extraArgs={--export-timout=20m}', /extraArgs/],
  ['a flag the chart sets, in extraArgs', 'extraArgs={--workers=8}', /extraArgs/],
  ['a namespace that is not a DNS label', 'watchNamespaces={Prod}', /watchNamespaces/],
  ['a budget that is not a number or percentage', 'podDisruptionBudget.minAvailable=most', /minAvailable/],
  ['a Prometheus duration without a unit', 'metrics.serviceMonitor.interval=30s0', /interval/],
  ['a transfer memory limit that is not a quantity', 'transfer.resources.limits.memory=lots', /memory/],
  ['a registry address that is not a CIDR', 'transfer.networkPolicy.registry.cidrs={10.0.0/8}', /cidrs/],
];

describe.each(WRONG)('%s (--set %s)', (_what, set, names) => {
  test('helm lint fails naming the field', async () => {
    const message = await refused(['lint', CHART_DIR, '--set', set]);
    expect(message).toMatch(/schema/i);
    expect(message).toMatch(names);
  });
  test('helm template fails naming the field', async () => {
    const message = await refused(['template', 'bad', CHART_DIR, '--set', set]);
    expect(message).toMatch(names);
  });
});

test('helm install refuses a wrong value before it talks to a cluster', async () => {
  const message = await refused([
    'install',
    'bad',
    CHART_DIR,
    '--dry-run=client',
    '--set',
    'replicaCount=abc',
  ]);
  expect(message).toMatch(/replicaCount/);
});

test('default values: lint and template pass', async () => {
  const lint = await helm(['lint', CHART_DIR, '--strict']);
  expect(lint).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  const manifests = parseManifests(await helm(['template', 'serverimage-operator', CHART_DIR]));
  const kinds = manifests.map((m) => `${m.kind}/${m.metadata.name}`);
  // Two replicas by default: a budget keeps one through a drain.
  expect(kinds).toContain('PodDisruptionBudget/serverimage-operator');
  expect(kinds).not.toContain('ConfigMap/serverimage-operator-dashboard');
  // The example NetworkPolicy and the priority class's read are asked for, never there by default.
  expect(manifests.map((m) => m.kind)).not.toContain('NetworkPolicy');
  expect(kinds.filter((k) => k.includes('priority-class'))).toEqual([]);
  const one = parseManifests(await helm(['template', 'one', CHART_DIR, '--set', 'replicaCount=1']));
  expect(one.map((m) => m.kind)).not.toContain('PodDisruptionBudget');
});

test('the example values: lint and template pass and render what they ask for', async () => {
  const lint = await helm(['lint', CHART_DIR, '--strict', '-f', FULL_VALUES]);
  expect(lint).toMatch(/0 chart\(s\) failed/);
  const manifests = parseManifests(
    await helm(['template', 'full', CHART_DIR, '--namespace', 'serverimage-system', '-f', FULL_VALUES]),
  );
  const find = (kind: string) => manifests.find((m) => m.kind === kind) as Manifest & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(find('PodDisruptionBudget').spec).toEqual({
    maxUnavailable: 1,
    unhealthyPodEvictionPolicy: 'AlwaysAllow',
    selector: { matchLabels: expect.any(Object) },
  });
  const dashboard = find('ConfigMap');
  expect(dashboard.metadata).toMatchObject({
    name: 'full-serverimage-operator-dashboard',
    namespace: 'monitoring',
    labels: { grafana_dashboard: '1' },
    annotations: { grafana_folder: 'Backups' },
  });
  expect(JSON.parse(dashboard.data['serverimage.json']).uid).toBe('serverimage-operator');
  const pod = find('Deployment').spec.template.spec;
  expect(pod.containers[0].image).toBe(
    'registry.example.com/serverimage-operator@sha256:0000000000000000000000000000000000000000000000000000000000000000',
  );
  expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe(
    'kubernetes.io/hostname',
  );
  expect(pod.containers[0].args).toEqual(expect.arrayContaining(['--export-timeout=20m']));
  const rule = find('PrometheusRule');
  expect(
    rule.spec.groups.flatMap((g: { rules: { alert: string }[] }) => g.rules.map((r) => r.alert)),
  ).toEqual([
    'ServerImageBackupMissing',
    'ServerImageScheduleOverdue',
    'ServerImageVerifiedBackupMissing',
    'ServerImageErrorsPilingUp',
    'ServerImageOperatorNotReady',
    'ServerImageOperatorNoLeader',
  ]);
});

describe("the transfer Pods' example NetworkPolicy (transfer.networkPolicy)", () => {
  const on = ['--set', 'transfer.networkPolicy.enabled=true'];
  const registry = ['--set', 'transfer.networkPolicy.registry.cidrs={10.20.30.40/32}'];

  test('one per namespace with ServerImages: exporter Pods, DNS and the registry out; the operator in', async () => {
    const [a, b] = [await createNamespace('np'), await createNamespace('np')];
    const args = [...on, ...registry, '--set', `transfer.networkPolicy.namespaces={${a},${b}}`];
    expect(await helm(['lint', CHART_DIR, '--strict', ...args])).toMatch(/0 chart\(s\) failed/);
    const manifests = parseManifests(
      await helm(['template', 'np', CHART_DIR, '--namespace', 'serverimage-system', ...args]),
    );
    const policies = manifests.filter((m) => m.kind === 'NetworkPolicy') as (Manifest &
      Record<string, any>)[]; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual([
      `${a}/np-serverimage-operator-transfer`,
      `${b}/np-serverimage-operator-transfer`,
    ]);
    expect(policies[0]!.spec).toEqual({
      // The labels the builder gives every transfer Pod (src/transfer/pod-spec.ts).
      podSelector: {
        matchLabels: {
          'app.kubernetes.io/name': 'serverimage-operator',
          'app.kubernetes.io/component': 'transfer',
        },
      },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'serverimage-system' } },
              podSelector: {
                matchLabels: {
                  'app.kubernetes.io/name': 'serverimage-operator',
                  'app.kubernetes.io/instance': 'np',
                },
              },
            },
          ],
          ports: [{ protocol: 'TCP', port: 8090 }],
        },
      ],
      egress: [
        {
          to: [
            {
              podSelector: {
                matchExpressions: [{ key: 'kubevirt.io.virt-export-service', operator: 'Exists' }],
              },
            },
          ],
          ports: [{ protocol: 'TCP', port: 8443 }],
        },
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
        { to: [{ ipBlock: { cidr: '10.20.30.40/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
      ],
    });
    // The real API server takes them as they are.
    const applied = await kubectl(['apply', '--dry-run=server', '-f', '-'], toYamlStream(policies));
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
  });

  test('watchNamespaces are its namespaces when none are named', async () => {
    const manifests = parseManifests(
      await helm(['template', 'np', CHART_DIR, ...on, ...registry, '--set', 'watchNamespaces={team-a}']),
    );
    expect(manifests.filter((m) => m.kind === 'NetworkPolicy').map((m) => m.metadata.namespace)).toEqual([
      'team-a',
    ]);
  });

  test('without namespaces or the registry it says what to set', async () => {
    expect(await refused(['template', 'np', CHART_DIR, ...on, ...registry])).toMatch(
      /transfer\.networkPolicy\.namespaces.*watchNamespaces/,
    );
    expect(await refused(['template', 'np', CHART_DIR, ...on, '--set', 'watchNamespaces={team-a}'])).toMatch(
      /transfer\.networkPolicy\.registry\.cidrs/,
    );
  });
});

test('transfer.priorityClassName: get on that PriorityClass only, even with watchNamespaces', async () => {
  for (const scoped of [[], ['--set', 'watchNamespaces={team-a}']]) {
    const manifests = parseManifests(
      await helm(['template', 'pc', CHART_DIR, '--set', 'transfer.priorityClassName=backup-low', ...scoped]),
    ) as (Manifest & Record<string, any>)[]; // eslint-disable-line @typescript-eslint/no-explicit-any
    const role = manifests.find(
      (m) =>
        m.kind === 'ClusterRole' && m.metadata.name === 'pc-serverimage-operator-transfer-priority-class',
    );
    expect(role?.rules).toEqual([
      {
        apiGroups: ['scheduling.k8s.io'],
        resources: ['priorityclasses'],
        resourceNames: ['backup-low'],
        verbs: ['get'],
      },
    ]);
    const binding = manifests.find(
      (m) => m.kind === 'ClusterRoleBinding' && m.metadata.name === role!.metadata.name,
    );
    expect(binding?.roleRef.name).toBe(role!.metadata.name);
    const deployment = manifests.find((m) => m.kind === 'Deployment');
    expect(deployment!.spec.template.spec.containers[0].args).toContain(
      '--transfer-priority-class-name=backup-low',
    );
  }
});
