// The chart refuses a wrong value before anything reaches a cluster: `helm lint`,
// `helm template` and `helm install` check values.schema.json and name the field. The
// default values and the example values (ci/full-values.yaml) pass, and render what they ask for.
import path from 'node:path';
import { CHART_DIR, helm, parseManifests, type Manifest } from './install-fixtures.js';

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
    'ServerImageErrorsPilingUp',
    'ServerImageOperatorNotReady',
    'ServerImageOperatorNoLeader',
  ]);
});
