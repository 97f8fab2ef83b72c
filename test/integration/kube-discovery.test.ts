// Which version of a group/kind the real API server serves, with CRDs shaped like
// KubeVirt's export API across releases.
import { discoverResource, servedVersions } from '../../src/kube/api-discovery.js';
import { installProjectCrds } from '../harness/crds.js';
import { kubeConfig, kubectl } from '../harness/testbed.js';
import { eventually } from './kube-fixtures.js';

const schema = { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } };

function crd(group: string, versions: { name: string; served: boolean; storage: boolean }[]) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `virtualmachineexports.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: {
        plural: 'virtualmachineexports',
        singular: 'virtualmachineexport',
        kind: 'VirtualMachineExport',
      },
      versions: versions.map((v) => ({ ...v, schema })),
    },
  };
}

const NEW = 'new.export.discovery.test';
const OLD = 'old.export.discovery.test';
const UNSERVED = 'unserved.export.discovery.test';

beforeAll(async () => {
  const manifests = [
    crd(NEW, [
      { name: 'v1beta1', served: true, storage: false },
      { name: 'v1', served: true, storage: true },
    ]),
    crd(OLD, [
      { name: 'v1alpha1', served: true, storage: false },
      { name: 'v1beta1', served: true, storage: true },
    ]),
    crd(UNSERVED, [
      { name: 'v1', served: false, storage: false },
      { name: 'v1beta1', served: true, storage: true },
    ]),
  ];
  const applied = await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }),
  );
  expect(applied.stderr).toBe('');
  for (const group of [NEW, OLD, UNSERVED]) {
    const waited = await kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      `crd/virtualmachineexports.${group}`,
    ]);
    expect(waited.code).toBe(0);
  }
  await installProjectCrds();
  // Discovery documents follow the CRDs a moment later.
  await eventually(
    'discovery of the test groups',
    async () => (await servedVersions(kubeConfig(), UNSERVED)).length > 0,
  );
});

test('prefers the newest served version (v1 over v1beta1)', async () => {
  const found = await discoverResource(kubeConfig(), NEW, 'VirtualMachineExport');
  expect(found).toEqual({
    group: NEW,
    version: 'v1',
    kind: 'VirtualMachineExport',
    plural: 'virtualmachineexports',
    namespaced: true,
    servedVersions: ['v1', 'v1beta1'],
  });
});

test('uses v1beta1 where that is what the server has', async () => {
  expect((await discoverResource(kubeConfig(), OLD, 'VirtualMachineExport'))?.version).toBe('v1beta1');
  const unserved = await discoverResource(kubeConfig(), UNSERVED, 'VirtualMachineExport');
  expect(unserved?.version).toBe('v1beta1');
  expect(unserved?.servedVersions).toEqual(['v1beta1']);
});

test('finds our own kind and core kinds; unknown ones are undefined', async () => {
  const ours = await discoverResource(kubeConfig(), 'serverimage.io', 'ServerImage');
  expect(ours).toMatchObject({ version: 'v1alpha1', plural: 'serverimages', namespaced: true });
  expect(await discoverResource(kubeConfig(), '', 'ConfigMap')).toMatchObject({
    version: 'v1',
    plural: 'configmaps',
    namespaced: true,
  });
  expect(await discoverResource(kubeConfig(), 'coordination.k8s.io', 'Lease')).toMatchObject({
    version: 'v1',
    plural: 'leases',
  });
  expect(
    await discoverResource(kubeConfig(), 'export.kubevirt.io.not.installed', 'VirtualMachineExport'),
  ).toBeUndefined();
  expect(await discoverResource(kubeConfig(), NEW, 'NoSuchKind')).toBeUndefined();
});
