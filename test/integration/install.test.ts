// The install paths on the real API server: `kubectl apply -k deploy/` and the Helm
// chart through `helm template | kubectl apply --dry-run=server`. Nothing runs pods here,
// so the pod template is checked by the API server's Pod Security admission instead.
// It runs on a control plane of its own: jest runs two files at a time, and a file that
// applies our CRDs to the shared one between this file's two applies of deploy/ would make
// "applying it again changes nothing" fail for a reason that is not deploy/'s (seen once).
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { createNamespace, kubectl } from '../harness/testbed.js';
import {
  DEPLOY_DIR,
  OPERATOR_NAMESPACE,
  applyDeploy,
  parseManifests,
  mustKubectl,
  renderChart,
  toYamlStream,
  type Manifest,
} from './install-fixtures.js';

let controlPlane: ControlPlane;
beforeAll(async () => {
  controlPlane = await startControlPlane();
  process.env.SERVERIMAGE_TESTBED_KUBECONFIG = controlPlane.kubeconfigPath;
}, 120_000);
afterAll(async () => {
  await controlPlane?.stop();
});

interface PodTemplate {
  metadata?: object;
  spec: {
    serviceAccountName: string;
    securityContext?: object;
    containers: {
      args: string[];
      env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
      livenessProbe: { httpGet: { path: string; port: string } };
      readinessProbe: { httpGet: { path: string; port: string } };
      ports: { name: string; containerPort: number }[];
      resources: { limits: { memory: string } };
      securityContext?: object;
    }[];
  };
}
type Deployment = Manifest & { spec: { replicas: number; template: PodTemplate } };

const MiB = 1024 * 1024;
const memoryBytes = (q: string) => {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  if (!m) throw new Error(`unexpected memory quantity ${q}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 * MiB : MiB);
};

/** The pod a Deployment would make, created with --dry-run=server: admission judges it. */
async function dryRunPod(template: PodTemplate, namespace: string) {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...template.metadata, generateName: 'operator-' },
    spec: template.spec,
  };
  return kubectl(['create', '--dry-run=server', '-n', namespace, '-f', '-'], JSON.stringify(pod));
}

async function restrictedNamespace(prefix: string): Promise<string> {
  const ns = await createNamespace(prefix);
  await mustKubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
  return ns;
}

function expectOperatorPod(template: PodTemplate, metricsPort?: number) {
  const [container] = template.spec.containers;
  expect(template.spec.containers).toHaveLength(1);
  expect(container!.args).toEqual(
    expect.arrayContaining(['--leader-elect=true', '--health-probe-bind-address=:8081']),
  );
  expect(container!.args).toContain(
    metricsPort ? `--metrics-bind-address=:${metricsPort}` : '--metrics-bind-address=0',
  );
  expect(container!.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath])).toEqual(
    expect.arrayContaining([
      ['POD_NAME', 'metadata.name'],
      ['POD_NAMESPACE', 'metadata.namespace'],
    ]),
  );
  const probesPort = container!.ports.find((p) => p.name === 'probes');
  expect(probesPort?.containerPort).toBe(8081);
  expect(container!.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'probes' });
  expect(container!.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'probes' });
  // The chart's rule for the default --max-concurrent-exports=2: 320 MiB + 64 MiB per transfer
  // (npm run bench:operator measured 225 MiB at peak with 4 transfers and 150 ServerImages).
  expect(memoryBytes(container!.resources.limits.memory)).toBeGreaterThanOrEqual(320 * MiB + 2 * 64 * MiB);
}

describe('kubectl apply -k deploy/', () => {
  let firstApply: string;
  beforeAll(async () => {
    firstApply = await applyDeploy();
  });

  test('creates the namespace, CRD, RBAC, Deployment and metrics Service', async () => {
    expect(firstApply).toContain('customresourcedefinition.apiextensions.k8s.io/serverimages.serverimage.io');
    const objects = [
      'namespace/serverimage-system',
      'crd/serverimages.serverimage.io',
      'crd/serverimageschedules.serverimage.io',
      'clusterrole/serverimage-operator',
      'clusterrole/serverimage-operator-edit',
      'clusterrole/serverimage-operator-view',
      'clusterrolebinding/serverimage-operator',
    ];
    for (const object of objects) await mustKubectl(['get', object]);
    const namespaced = [
      'serviceaccount/serverimage-operator',
      'role/serverimage-operator-leader-election',
      'rolebinding/serverimage-operator-leader-election',
      'deployment/serverimage-operator',
      'service/serverimage-operator-metrics',
    ];
    for (const object of namespaced) await mustKubectl(['get', '-n', OPERATOR_NAMESPACE, object]);
  });

  test('applying it again changes nothing', async () => {
    const again = await applyDeploy();
    const lines = again.trim().split('\n');
    const objects = parseManifests(await mustKubectl(['kustomize', DEPLOY_DIR]));
    expect(lines).toHaveLength(objects.length);
    expect(lines.filter((l) => !l.endsWith(' unchanged'))).toEqual([]);
  });

  test('the Deployment runs two leader-elected replicas with probes, limits and the downward API', async () => {
    const deployment = JSON.parse(
      await mustKubectl(['get', '-n', OPERATOR_NAMESPACE, 'deployment/serverimage-operator', '-o', 'json']),
    ) as Deployment;
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.template.spec.serviceAccountName).toBe('serverimage-operator');
    expectOperatorPod(deployment.spec.template, 8080);
  });

  test('its pod passes the restricted Pod Security Standard; without its security context it does not', async () => {
    const deployment = JSON.parse(
      await mustKubectl(['get', '-n', OPERATOR_NAMESPACE, 'deployment/serverimage-operator', '-o', 'json']),
    ) as Deployment;
    const template = deployment.spec.template;
    const admitted = await dryRunPod(template, OPERATOR_NAMESPACE);
    expect(admitted.stderr).toBe('');
    expect(admitted.code).toBe(0);

    // The namespace's label is what makes the check bite: a pod without the settings is refused.
    const loose: PodTemplate = structuredClone(template);
    delete loose.spec.securityContext;
    for (const c of loose.spec.containers) delete c.securityContext;
    const refused = await dryRunPod(loose, OPERATOR_NAMESPACE);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('violates PodSecurity "restricted');
  });
});

describe('helm template | kubectl apply --dry-run=server', () => {
  let ns: string;
  beforeAll(async () => {
    ns = await restrictedNamespace('helm');
  });

  const serverDryRun = (manifests: Manifest[]) =>
    kubectl(['apply', '--dry-run=server', '-f', '-'], toYamlStream(manifests));

  test('default values: everything is accepted', async () => {
    const manifests = await renderChart('serverimage-operator', ns);
    expect(manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ClusterRole/serverimage-operator',
      'ClusterRole/serverimage-operator-edit',
      'ClusterRole/serverimage-operator-view',
      'ClusterRoleBinding/serverimage-operator',
      'CustomResourceDefinition/serverimages.serverimage.io',
      'CustomResourceDefinition/serverimageschedules.serverimage.io',
      'Deployment/serverimage-operator',
      'Pod/serverimage-operator-test-ready',
      'PodDisruptionBudget/serverimage-operator',
      'Role/serverimage-operator-leader-election',
      'RoleBinding/serverimage-operator-leader-election',
      'Service/serverimage-operator-metrics',
      'Service/serverimage-operator-test-ready',
      'ServiceAccount/serverimage-operator',
    ]);
    const applied = await serverDryRun(manifests);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('deployment.apps/serverimage-operator created (server dry run)');

    const deployment = manifests.find((m) => m.kind === 'Deployment') as Deployment;
    expectOperatorPod(deployment.spec.template, 8080);
    expect(deployment.spec.template.spec.containers[0]!.args).toContain(
      '--leader-election-id=serverimage-operator',
    );
    const pod = await dryRunPod(deployment.spec.template, ns);
    expect(pod.stderr).toBe('');
  });

  test('the dashboard ConfigMap, a maxUnavailable budget and required anti-affinity are accepted', async () => {
    const manifests = await renderChart('extras', ns, [
      'dashboards.enabled=true',
      'podDisruptionBudget.maxUnavailable=50%',
      'podAntiAffinity=hard',
      'image.digest=sha256:' + '0'.repeat(64),
    ]);
    const applied = await serverDryRun(manifests);
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain(
      'configmap/extras-serverimage-operator-dashboard created (server dry run)',
    );
    expect(applied.stdout).toContain(
      'poddisruptionbudget.policy/extras-serverimage-operator created (server dry run)',
    );
    const budget = manifests.find((m) => m.kind === 'PodDisruptionBudget') as Manifest & {
      spec: { maxUnavailable: string; minAvailable?: number };
    };
    expect(budget.spec.maxUnavailable).toBe('50%');
    expect(budget.spec.minAvailable).toBeUndefined();
  });

  test('a ServiceMonitor that selects the metrics Service and its port', async () => {
    const manifests = await renderChart('so', ns, [
      'metrics.serviceMonitor.enabled=true',
      'metrics.serviceMonitor.labels.release=prometheus',
    ]);
    const monitor = manifests.find((m) => m.kind === 'ServiceMonitor') as Manifest & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        namespaceSelector: { matchNames: string[] };
        endpoints: { port: string; path: string }[];
      };
    };
    const service = manifests.find(
      (m) => m.kind === 'Service' && m.metadata.name === 'so-serverimage-operator-metrics',
    ) as Manifest & {
      spec: { ports: { name: string }[] };
    };
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels).toEqual(expect.objectContaining({ release: 'prometheus' }));
    // What makes Prometheus scrape it: the selector matches the Service, the port is named.
    expect(service.metadata.labels).toEqual(expect.objectContaining(monitor.spec.selector.matchLabels));
    expect(monitor.spec.namespaceSelector.matchNames).toEqual([ns]);
    expect(service.spec.ports.map((p) => p.name)).toContain(monitor.spec.endpoints[0]!.port);
    expect(monitor.spec.endpoints[0]!.path).toBe('/metrics');

    // prometheus-operator's CRD is not installed here: the API server must refuse the
    // ServiceMonitor for that reason alone and accept everything else.
    const rest = manifests.filter((m) => m.kind !== 'ServiceMonitor');
    const applied = await serverDryRun(rest);
    expect(applied.stderr).toBe('');
    const refused = await serverDryRun([monitor]);
    expect(refused.stderr).toContain(
      'no matches for kind "ServiceMonitor" in version "monitoring.coreos.com/v1"',
    );
  });

  test("an example PrometheusRule on the schedules' last-success gauge, off by default", async () => {
    expect((await renderChart('norule', ns)).map((m) => m.kind)).not.toContain('PrometheusRule');
    const manifests = await renderChart('rule', ns, [
      'metrics.prometheusRule.enabled=true',
      'metrics.prometheusRule.labels.release=prometheus',
    ]);
    const rule = manifests.find((m) => m.kind === 'PrometheusRule') as Manifest & {
      spec: { groups: { rules: { alert: string; expr: string; annotations: Record<string, string> }[] }[] };
    };
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.metadata.labels).toEqual(expect.objectContaining({ release: 'prometheus' }));
    const [alert] = rule.spec.groups[0]!.rules;
    expect(alert!.alert).toBe('ServerImageBackupMissing');
    expect(alert!.expr).toBe(
      'time() - max by (namespace, schedule, server) (serverimage_schedule_last_success_timestamp_seconds) > 93600',
    );
    // Prometheus' own template variables survive Helm's templating.
    expect(alert!.annotations.summary).toContain('{{ $labels.namespace }}/{{ $labels.server }}');
    const refused = await serverDryRun([rule]);
    expect(refused.stderr).toContain(
      'no matches for kind "PrometheusRule" in version "monitoring.coreos.com/v1"',
    );
  });

  test('watchNamespaces: the operator gets Roles in those namespaces and no ClusterRole', async () => {
    const [a, b] = [await createNamespace('watched'), await createNamespace('watched')];
    const manifests = await renderChart('scoped', ns, [
      `watchNamespaces={${a},${b}}`,
      'maxConcurrentExports=3',
      'replicaCount=1',
    ]);
    const roles = manifests.filter((m) => m.kind === 'Role' || m.kind === 'RoleBinding');
    expect(roles.map((m) => `${m.kind}/${m.metadata.namespace}/${m.metadata.name}`).sort()).toEqual(
      [
        `Role/${a}/scoped-serverimage-operator`,
        `Role/${b}/scoped-serverimage-operator`,
        `RoleBinding/${a}/scoped-serverimage-operator`,
        `RoleBinding/${b}/scoped-serverimage-operator`,
        `Role/${ns}/scoped-serverimage-operator-leader-election`,
        `RoleBinding/${ns}/scoped-serverimage-operator-leader-election`,
      ].sort(),
    );
    expect(
      manifests
        .filter((m) => m.kind.startsWith('ClusterRole'))
        .map((m) => m.metadata.name)
        .sort(),
    ).toEqual(['scoped-serverimage-operator-edit', 'scoped-serverimage-operator-view']);
    const deployment = manifests.find((m) => m.kind === 'Deployment') as Deployment;
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.template.spec.containers[0]!.args).toEqual(
      expect.arrayContaining([`--watch-namespaces=${a},${b}`, '--max-concurrent-exports=3']),
    );
    const applied = await serverDryRun(manifests);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
  });

  test('metrics off: no metrics Service, the metrics server disabled', async () => {
    const manifests = await renderChart('nometrics', ns, ['metrics.enabled=false']);
    // Only the helm test's Service (a hook, created by `helm test`) is left.
    expect(manifests.filter((m) => m.kind === 'Service').map((m) => m.metadata.name)).toEqual([
      'nometrics-serverimage-operator-test-ready',
    ]);
    const deployment = manifests.find((m) => m.kind === 'Deployment') as Deployment;
    expectOperatorPod(deployment.spec.template);
    expect(deployment.spec.template.spec.containers[0]!.ports.map((p) => p.name)).toEqual(['probes']);
    const applied = await serverDryRun(manifests);
    expect(applied.stderr).toBe('');
  });
});
