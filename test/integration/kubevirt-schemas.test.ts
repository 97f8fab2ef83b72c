// The bed runs on KubeVirt's, CDI's and the CSI snapshotter's own CRDs (printed by
// tools/kubevirt-crds from the projects' generators): the API server itself refuses what
// the real schemas refuse, for users' manifests and for the bed's stand-ins' strict status writes.
import * as k8s from '@kubernetes/client-node';
import { VM } from '../harness/kubevirt/api.js';
import { installKubevirtCrds } from '../harness/kubevirt/crds/install.js';
import { SimTestClient } from '../harness/kubevirt/testing.js';
import { createNamespace, kubeConfig, kubectl } from '../harness/testbed.js';

let client: SimTestClient;
let ns: string;

beforeAll(async () => {
  await installKubevirtCrds(kubeConfig());
  client = new SimTestClient(kubeConfig());
  ns = await createNamespace('sim-schemas');
});

const vmManifest = (name: string, cpu: object) => ({
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name, namespace: ns },
  spec: {
    runStrategy: 'Halted',
    template: { spec: { domain: { cpu, devices: {}, memory: { guest: '64Mi' } } } },
  },
});

test('kubectl apply of a VM with cpu.cores "two" is refused by the real schema, naming the field', async () => {
  const refused = await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify(vmManifest('two-cores', { cores: 'two' })),
  );
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain('spec.template.spec.domain.cpu.cores');
  expect(refused.stderr).toMatch(/must be of type integer|Invalid value: "string"/);
  // The same VM with an integer is accepted: the refusal is the type, nothing else.
  const accepted = await kubectl(['apply', '-f', '-'], JSON.stringify(vmManifest('two-cores', { cores: 2 })));
  expect(accepted.stderr).toBe('');
  expect(accepted.code).toBe(0);
});

describe('strict status writes, as the stand-ins make them', () => {
  beforeAll(async () => {
    await client.createVm(ns, 'written');
  });

  test('a wrong-typed field is refused (status.ready "yes")', async () => {
    await expect(client.patchStatus(VM, ns, 'written', { ready: 'yes' })).rejects.toMatchObject({
      code: 422,
      body: expect.stringContaining('status.ready'),
    });
  });

  test('a field the schema does not know is refused, not silently dropped', async () => {
    await expect(client.patchStatus(VM, ns, 'written', { readiness: true })).rejects.toMatchObject({
      code: 422,
      body: expect.stringContaining('unknown field \\"status.readiness\\"'),
    });
  });

  test('a well-typed write is accepted and kept', async () => {
    const vm = await client.patchStatus(VM, ns, 'written', { volumeSnapshotStatuses: [] });
    expect(vm.metadata.name).toBe('written');
  });
});

test('the real CRDs: versions served and stored, and no status subresource on VirtualMachineInstance', async () => {
  const api = kubeConfig().makeApiClient(k8s.ApiextensionsV1Api);
  const versions = async (name: string) =>
    (await api.readCustomResourceDefinition({ name })).spec.versions
      .map((v) => `${v.name}${v.storage ? '*' : ''}${v.served ? '' : '(not served)'}`)
      .sort();
  expect(await versions('virtualmachines.kubevirt.io')).toEqual(['v1*', 'v1alpha3']);
  expect(await versions('virtualmachinesnapshots.snapshot.kubevirt.io')).toEqual(['v1alpha1', 'v1beta1*']);
  // v1 is the bed's addition (KubeVirt 1.9's shape) on top of v1.8.4's v1beta1 and v1alpha1.
  expect(await versions('virtualmachineexports.export.kubevirt.io')).toEqual(['v1*', 'v1alpha1', 'v1beta1']);
  expect(await versions('datavolumes.cdi.kubevirt.io')).toEqual(['v1beta1*']);
  expect(await versions('volumesnapshots.snapshot.storage.k8s.io')).toContain('v1*');
  const vmi = await api.readCustomResourceDefinition({ name: 'virtualmachineinstances.kubevirt.io' });
  expect(vmi.spec.versions.map((v) => v.subresources?.status)).toEqual([undefined, undefined]);
});
