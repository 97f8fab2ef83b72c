// RBAC of the install paths, asked of the real API server with `kubectl auth can-i --as`:
// the operator's ServiceAccount (deploy/) gets each verb it uses and nothing more; the
// chart's watchNamespaces mode confines it to those namespaces; namespace users with the
// built-in `edit` role manage ServerImages and `view` users only read them.
import type { ManagedProcess } from '../harness/process.js';
import { installKubevirtCrds } from '../harness/kubevirt/crds/install.js';
import { createNamespace, kubeConfig, kubectl } from '../harness/testbed.js';
import {
  OPERATOR_NAMESPACE,
  OPERATOR_USER,
  applyDeploy,
  canI,
  mustKubectl,
  renderChart,
  startAggregationController,
  toYamlStream,
} from './install-fixtures.js';

const SERVERIMAGES = 'serverimages.serverimage.io';
const SCHEDULES = 'serverimageschedules.serverimage.io';
const VMS = 'virtualmachines.kubevirt.io';
const VMIS = 'virtualmachineinstances.kubevirt.io';
const SNAPSHOTS = 'virtualmachinesnapshots.snapshot.kubevirt.io';
const EXPORTS = 'virtualmachineexports.export.kubevirt.io';
const LEASES = 'leases.coordination.k8s.io';

type Check = [verb: string, resource: string, options?: Parameters<typeof canI>[3]];

let ns: string;
let kcm: ManagedProcess | undefined;

beforeAll(async () => {
  // The KubeVirt kinds must be served, or can-i cannot tell which group a resource is in.
  await installKubevirtCrds(kubeConfig());
  await applyDeploy();
  ns = await createNamespace('rbac');
});

afterAll(async () => {
  await kcm?.stop();
});

describe('the operator ServiceAccount of deploy/', () => {
  const granted: Check[] = [
    ['list', SERVERIMAGES, { allNamespaces: true }],
    ['watch', SERVERIMAGES, { allNamespaces: true }],
    ['get', SERVERIMAGES],
    ['patch', SERVERIMAGES],
    ['patch', SERVERIMAGES, { subresource: 'status' }],
    ['update', SERVERIMAGES, { subresource: 'finalizers' }],
    // Schedules stamp out backups and rotation deletes them.
    ['create', SERVERIMAGES],
    ['delete', SERVERIMAGES],
    ['list', SCHEDULES, { allNamespaces: true }],
    ['watch', SCHEDULES, { allNamespaces: true }],
    ['get', SCHEDULES],
    ['patch', SCHEDULES, { subresource: 'status' }],
    ['list', VMS, { allNamespaces: true }],
    ['watch', VMS, { allNamespaces: true }],
    ['get', VMS],
    // Boot verification: a throw-away VMI, made, watched and deleted.
    ...['create', 'get', 'list', 'watch', 'delete'].map((verb): Check => [verb, VMIS]),
    ['watch', VMIS, { allNamespaces: true }],
    ...['create', 'get', 'list', 'watch', 'delete'].flatMap((verb): Check[] => [
      [verb, SNAPSHOTS],
      [verb, EXPORTS],
    ]),
    ['list', SNAPSHOTS, { allNamespaces: true }],
    ['get', 'virtualmachinesnapshotcontents.snapshot.kubevirt.io'],
    ['watch', EXPORTS, { allNamespaces: true }],
    ['get', 'secrets'],
    ['create', 'secrets'],
    ['delete', 'secrets'],
    // The storage behind a VM's volumes: watched, waited for.
    ['list', 'persistentvolumeclaims', { allNamespaces: true }],
    ['watch', 'persistentvolumeclaims'],
    ['get', 'persistentvolumeclaims'],
    ['create', 'events'],
    ['patch', 'events'],
    // Transfer Pods: made, watched, deleted; their status read.
    ...['create', 'delete', 'get'].map((verb): Check => [verb, 'pods']),
    ['list', 'pods', { allNamespaces: true }],
    ['watch', 'pods', { allNamespaces: true }],
    ['get', 'pods', { subresource: 'status' }],
    ['create', LEASES, { namespace: OPERATOR_NAMESPACE }],
    ['get', `${LEASES}/serverimage-operator`, { namespace: OPERATOR_NAMESPACE }],
    ['update', `${LEASES}/serverimage-operator`, { namespace: OPERATOR_NAMESPACE }],
    ['get', '/apis'],
    ['get', '/apis/export.kubevirt.io/v1'],
    // --transfer-priority-class-name is checked at start-up.
    ['get', 'priorityclasses.scheduling.k8s.io'],
  ];
  const refused: Check[] = [
    // It never replaces a ServerImage nor deletes them in bulk; a schedule is its users'.
    ['update', SERVERIMAGES],
    ['deletecollection', SERVERIMAGES],
    ['update', SERVERIMAGES, { subresource: 'status' }],
    ...['create', 'update', 'patch', 'delete'].map((verb): Check => [verb, SCHEDULES]),
    ['update', SCHEDULES, { subresource: 'status' }],
    // The VM is only watched.
    ...['create', 'update', 'patch', 'delete'].map((verb): Check => [verb, VMS]),
    ['update', VMS, { subresource: 'status' }],
    ['update', VMIS],
    ['patch', VMIS],
    ['update', SNAPSHOTS],
    ['patch', EXPORTS],
    ['deletecollection', SNAPSHOTS],
    // Secrets only by name: it cannot enumerate, watch or change them.
    ['list', 'secrets'],
    ['list', 'secrets', { allNamespaces: true }],
    ['watch', 'secrets'],
    ['update', 'secrets'],
    ['patch', 'secrets'],
    ['delete', 'events'],
    // Its own Lease only, in its own namespace.
    ['update', `${LEASES}/someone-elses-lease`, { namespace: OPERATOR_NAMESPACE }],
    ['delete', `${LEASES}/serverimage-operator`, { namespace: OPERATOR_NAMESPACE }],
    ['create', LEASES],
    ['list', LEASES, { namespace: OPERATOR_NAMESPACE }],
    // A Pod is never changed, exec'd into or evicted: made and deleted only.
    ['update', 'pods'],
    ['patch', 'pods'],
    ['create', 'pods', { subresource: 'exec' }],
    ['create', 'pods', { subresource: 'eviction' }],
    ['patch', 'pods', { subresource: 'status' }],
    ['deletecollection', 'pods'],
    // Nothing else.
    ['get', 'configmaps'],
    ['create', 'persistentvolumeclaims'],
    ['delete', 'persistentvolumeclaims'],
    ['list', 'virtualmachinesnapshotcontents.snapshot.kubevirt.io'],
    ['create', 'clusterroles.rbac.authorization.k8s.io'],
    ['create', 'rolebindings.rbac.authorization.k8s.io'],
    ['update', 'customresourcedefinitions.apiextensions.k8s.io'],
    ['impersonate', 'serviceaccounts'],
    ['list', 'priorityclasses.scheduling.k8s.io'],
    ['create', 'priorityclasses.scheduling.k8s.io'],
  ];

  const describeCheck = ([verb, resource, options]: Check) =>
    `${verb} ${resource}${options?.subresource ? `/${options.subresource}` : ''}${options?.allNamespaces ? ' (all namespaces)' : ''}`;

  test.each(granted.map((c) => [describeCheck(c), c] as const))('may %s', async (_name, check) => {
    const [verb, resource, options] = check;
    expect(await canI(OPERATOR_USER, verb, resource, { namespace: ns, ...options })).toBe(true);
  });

  test.each(refused.map((c) => [describeCheck(c), c] as const))('may not %s', async (_name, check) => {
    const [verb, resource, options] = check;
    expect(await canI(OPERATOR_USER, verb, resource, { namespace: ns, ...options })).toBe(false);
  });
});

describe('the chart with watchNamespaces', () => {
  test('grants the operator its namespaced verbs in the watched namespaces only', async () => {
    const watched = await createNamespace('watched');
    const other = await createNamespace('unwatched');
    const release = await createNamespace('release');
    const manifests = await renderChart('scoped', release, [`watchNamespaces={${watched}}`]);
    await mustKubectl(
      ['apply', '-f', '-'],
      toYamlStream(manifests.filter((m) => m.kind !== 'CustomResourceDefinition')),
    );
    const sa = `system:serviceaccount:${release}:scoped-serverimage-operator`;
    for (const [verb, resource] of [
      ['get', 'secrets'],
      ['create', 'secrets'],
      ['watch', SERVERIMAGES],
      ['patch', SERVERIMAGES],
      ['create', SERVERIMAGES],
      ['watch', SCHEDULES],
      ['create', SNAPSHOTS],
      ['create', EXPORTS],
      ['list', VMS],
      ['create', 'events'],
    ] as const) {
      expect([verb, resource, await canI(sa, verb, resource, { namespace: watched })]).toEqual([
        verb,
        resource,
        true,
      ]);
      expect([verb, resource, await canI(sa, verb, resource, { namespace: other })]).toEqual([
        verb,
        resource,
        false,
      ]);
    }
    expect(await canI(sa, 'list', SERVERIMAGES, { allNamespaces: true })).toBe(false);
    expect(await canI(sa, 'get', `${LEASES}/scoped-serverimage-operator`, { namespace: release })).toBe(true);
    await mustKubectl(
      ['delete', '-f', '-'],
      toYamlStream(manifests.filter((m) => !m.metadata.namespace && m.kind !== 'CustomResourceDefinition')),
    );
  });
});

describe('namespace users through the built-in edit and view roles', () => {
  const editor = 'alice@example.com';
  const viewer = 'bob@example.com';
  const image = (name: string) =>
    JSON.stringify({
      apiVersion: 'serverimage.io/v1alpha1',
      kind: 'ServerImage',
      metadata: { name },
      spec: { serverRef: { name: 'web-01' }, registry: { repository: 'registry.example.com/vms/web-01' } },
    });
  const as = (user: string, args: string[], input?: string) =>
    kubectl([`--as=${user}`, '-n', ns, ...args], input);

  beforeAll(async () => {
    await mustKubectl([
      'create',
      'rolebinding',
      'alice-edit',
      '-n',
      ns,
      '--clusterrole=edit',
      `--user=${editor}`,
    ]);
    await mustKubectl([
      'create',
      'rolebinding',
      'bob-view',
      '-n',
      ns,
      '--clusterrole=view',
      `--user=${viewer}`,
    ]);
    kcm = await startAggregationController();
  });

  test('edit creates, updates, lists and deletes ServerImages but cannot write their status', async () => {
    const created = await as(editor, ['create', '-f', '-'], image('by-editor'));
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain('serverimage.serverimage.io/by-editor created');
    const labelled = await as(editor, ['label', 'serverimage', 'by-editor', 'team=web']);
    expect(labelled.stderr).toBe('');
    expect((await as(editor, ['get', 'serverimages', '-o', 'name'])).stdout).toContain('by-editor');
    const status = await as(editor, [
      'patch',
      'serverimage',
      'by-editor',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"phase":"Active"}}',
    ]);
    expect(status.stderr).toContain('Forbidden');
    expect(
      await canI(editor, 'create', SERVERIMAGES, { namespace: await createNamespace('elsewhere') }),
    ).toBe(false);
    const deleted = await as(editor, ['delete', 'serverimage', 'by-editor', '--wait=false']);
    expect(deleted.stderr).toBe('');
  });

  test('view reads ServerImages but cannot create, change or delete them', async () => {
    await mustKubectl(['create', '-n', ns, '-f', '-'], image('by-admin'));
    expect((await as(viewer, ['get', 'serverimage', 'by-admin', '-o', 'name'])).stdout.trim()).toBe(
      'serverimage.serverimage.io/by-admin',
    );
    expect(await canI(viewer, 'watch', SERVERIMAGES, { namespace: ns })).toBe(true);
    const created = await as(viewer, ['create', '-f', '-'], image('by-viewer'));
    expect(created.code).not.toBe(0);
    expect(created.stderr).toContain('Forbidden');
    expect((await as(viewer, ['label', 'serverimage', 'by-admin', 'x=y'])).stderr).toContain('Forbidden');
    expect((await as(viewer, ['delete', 'serverimage', 'by-admin'])).stderr).toContain('Forbidden');
    // No operator watches here; leave nothing for one that watches all namespaces later.
    await mustKubectl(['delete', '-n', ns, 'serverimage', 'by-admin']);
  });

  test('edit manages ServerImageSchedules, view only reads them, neither writes their status', async () => {
    for (const verb of ['create', 'update', 'patch', 'delete', 'deletecollection']) {
      expect([verb, await canI(editor, verb, SCHEDULES, { namespace: ns })]).toEqual([verb, true]);
      expect([verb, await canI(viewer, verb, SCHEDULES, { namespace: ns })]).toEqual([verb, false]);
    }
    for (const verb of ['get', 'list', 'watch']) {
      expect([verb, await canI(viewer, verb, SCHEDULES, { namespace: ns })]).toEqual([verb, true]);
    }
    expect(await canI(editor, 'patch', SCHEDULES, { namespace: ns, subresource: 'status' })).toBe(false);
    expect(await canI(viewer, 'get', SCHEDULES, { namespace: ns, subresource: 'status' })).toBe(true);
  });

  test('admin inherits edit', async () => {
    expect(await canI('carol@example.com', 'delete', SERVERIMAGES, { namespace: ns })).toBe(false);
    await mustKubectl([
      'create',
      'rolebinding',
      'carol-admin',
      '-n',
      ns,
      '--clusterrole=admin',
      '--user=carol@example.com',
    ]);
    expect(await canI('carol@example.com', 'delete', SERVERIMAGES, { namespace: ns })).toBe(true);
  });
});
