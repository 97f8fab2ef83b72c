// The pure parts of `serverimage restore`: its command line, the manifests it makes of a
// VM definition, and how the definition is cleaned of cluster identity.
import { parseCommandLine } from '../../../src/cli/args.js';
import { UsageError } from '../../../src/cli/exit-codes.js';
import { restoreManifests, type RestoreOptions } from '../../../src/cli/restore/restore-manifests.js';
import { splitReference } from '../../../src/cli/restore/restore-source.js';
import type { VmArtifactDocument } from '../../../src/export/vm-artifact.js';
import { cleanVm, instancetypeHints } from '../../../src/kubevirt/vm-definition.js';
import { referrersTag } from '../../../src/registry/referrers.js';

/** The manifests are free-form JSON; the assertions read into them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

const DIGEST = `sha256:${'a'.repeat(64)}`;

function document(): VmArtifactDocument {
  return {
    apiVersion: 'serverimage.io/v1alpha1',
    kind: 'VirtualMachineImage',
    source: { namespace: 'prod', name: 'web' },
    virtualMachine: {
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        running: true,
        instancetype: { name: 'u1.small', revisionName: 'web-u1.small-1' },
        dataVolumeTemplates: [{ metadata: { name: 'web-root' } }, { metadata: { name: 'other' } }],
        template: {
          spec: {
            domain: {
              firmware: { uuid: 'u-1', serial: 's-1' },
              devices: { interfaces: [{ name: 'default', macAddress: '02:00:00:00:00:01' }] },
            },
            volumes: [
              { name: 'root', dataVolume: { name: 'web-root' } },
              { name: 'cloudinit', cloudInitNoCloud: { userData: '#cloud-config' } },
            ],
          },
        },
      },
    },
    volumes: [
      {
        volume: 'root',
        reference: `reg.example/vms/web@${DIGEST}`,
        tagReference: 'reg.example/vms/web:t',
        digest: DIGEST,
        diskSize: 1048576,
        diskFormat: 'raw',
      },
    ],
  };
}

const options = (extra: Partial<RestoreOptions> = {}): RestoreOptions => ({
  name: 'copy',
  namespace: 'staging',
  as: 'datavolume',
  newIdentity: false,
  pullMethod: 'pod',
  ...extra,
});

describe('restoreManifests', () => {
  test('datavolume: the imaged volume becomes a registry DataVolume by digest; the rest stays', () => {
    const [vm, ...rest] = restoreManifests(document(), options()).reverse();
    expect(rest).toEqual([]);
    const spec = vm!.spec as Loose;
    expect(vm!.metadata).toEqual({ name: 'copy', namespace: 'staging', labels: { app: 'web' } });
    expect(spec.template.spec.volumes).toEqual([
      { name: 'root', dataVolume: { name: 'copy-root' } },
      { name: 'cloudinit', cloudInitNoCloud: { userData: '#cloud-config' } },
    ]);
    expect(spec.dataVolumeTemplates).toEqual([
      { metadata: { name: 'other' } },
      {
        metadata: { name: 'copy-root' },
        spec: {
          source: { registry: { url: `docker://reg.example/vms/web@${DIGEST}` } },
          storage: { resources: { requests: { storage: '1048576' } } },
        },
      },
    ]);
    expect(spec.instancetype).toEqual({ name: 'u1.small' });
    expect(spec.running).toBe(true);
    expect(spec.template.spec.domain.firmware).toEqual({ uuid: 'u-1', serial: 's-1' });
  });

  test('credentials and CA become a CDI Secret and ConfigMap for a pod pull, and nothing for a node pull', () => {
    const access = { credentials: { username: 'u', password: 'p' }, caPem: 'PEM' };
    const made = restoreManifests(document(), options({ ...access, storageClass: 'fast' }));
    expect(made.map((m) => `${m.kind}/${m.metadata.name}`)).toEqual([
      'Secret/copy-registry',
      'ConfigMap/copy-registry-ca',
      'VirtualMachine/copy',
    ]);
    expect(made[0]!.data).toEqual({ accessKeyId: 'dQ==', secretKey: 'cA==' });
    const template = (made[2]!.spec as Loose).dataVolumeTemplates[1].spec;
    expect(template.source.registry).toMatchObject({
      secretRef: 'copy-registry',
      certConfigMap: 'copy-registry-ca',
    });
    expect(template.storage.storageClassName).toBe('fast');

    const node = restoreManifests(document(), options({ ...access, pullMethod: 'node' }));
    expect(node.map((m) => m.kind)).toEqual(['VirtualMachine']);
    expect((node[0]!.spec as Loose).dataVolumeTemplates[1].spec.source.registry).toEqual({
      url: `docker://reg.example/vms/web@${DIGEST}`,
      pullMethod: 'node',
    });
  });

  test('containerdisk with --new-identity and --run-strategy: ephemeral, no MAC, no firmware UUID', () => {
    const made = restoreManifests(
      document(),
      options({
        as: 'containerdisk',
        newIdentity: true,
        runStrategy: 'Halted',
        credentials: { username: 'u', password: 'p' },
      }),
    );
    expect(made.map((m) => `${m.kind}/${m.metadata.name}`)).toEqual([
      'Secret/copy-registry-pull',
      'VirtualMachine/copy',
    ]);
    expect(made[0]!.type).toBe('kubernetes.io/dockerconfigjson');
    const spec = made[1]!.spec as Loose;
    expect(spec.template.spec.volumes[0]).toEqual({
      name: 'root',
      containerDisk: { image: `reg.example/vms/web@${DIGEST}`, imagePullSecret: 'copy-registry-pull' },
    });
    expect(spec.dataVolumeTemplates).toEqual([{ metadata: { name: 'other' } }]);
    expect(spec.running).toBeUndefined();
    expect(spec.runStrategy).toBe('Halted');
    expect(spec.template.spec.domain.firmware).toEqual({ serial: 's-1' });
    expect(spec.template.spec.domain.devices.interfaces).toEqual([{ name: 'default' }]);
  });
});

test('cleanVm drops cluster identity and KubeVirt/kubectl bookkeeping, keeps the rest', () => {
  const cleaned = cleanVm({
    metadata: {
      name: 'web',
      namespace: 'prod',
      uid: 'x',
      resourceVersion: '1',
      generation: 3,
      creationTimestamp: 't',
      managedFields: [],
      ownerReferences: [],
      finalizers: ['kubevirt.io/virtualMachineControllerFinalize'],
      labels: { app: 'web' },
      annotations: { 'kubevirt.io/latest-observed-api-version': 'v1', mine: 'yes' },
    },
    spec: { runStrategy: 'Always' },
  });
  expect(cleaned).toEqual({
    metadata: { name: 'web', namespace: 'prod', labels: { app: 'web' }, annotations: { mine: 'yes' } },
    spec: { runStrategy: 'Always' },
  });
});

test('instancetype hints, referrers tag, reference splitting', () => {
  expect(
    instancetypeHints({
      instancetype: { name: 'u1.small' },
      preference: { name: 'fedora', kind: 'VirtualMachinePreference' },
    }),
  ).toEqual({
    'instancetype.kubevirt.io/default-instancetype': 'u1.small',
    'instancetype.kubevirt.io/default-preference': 'fedora',
    'instancetype.kubevirt.io/default-preference-kind': 'VirtualMachinePreference',
  });
  expect(referrersTag(DIGEST)).toBe(`sha256-${'a'.repeat(64)}`);
  expect(splitReference('host:5000/a/b:tag')).toEqual({ repository: 'host:5000/a/b', reference: 'tag' });
  expect(splitReference(`host:5000/a/b@${DIGEST}`)).toEqual({
    repository: 'host:5000/a/b',
    reference: DIGEST,
  });
  expect(splitReference('host:5000/a/b')).toEqual({ repository: 'host:5000/a/b', reference: 'latest' });
});

describe('restore command line', () => {
  test('defaults and flags', () => {
    expect(parseCommandLine(['restore', 'web-image', '--name', 'copy', '-n', 'x'])).toEqual({
      command: 'restore',
      cluster: { namespace: 'x' },
      source: 'web-image',
      name: 'copy',
      as: 'datavolume',
      newIdentity: false,
      pullMethod: 'pod',
      insecure: false,
    });
  });

  test.each([
    [['restore', 'web-image'], /needs --name/],
    [['restore', 'web-image', '--name', 'c', '--as', 'pvc'], /--as takes datavolume or containerdisk/],
    [['restore', 'web-image', '--name', 'c', '--credentials', 's'], /for a registry reference/],
    [['restore', 'h/r:t', '--name', 'c', '--from-namespace', 'p'], /a registry reference has none/],
    [['restore', 'web-image', '--name', 'c', '-o', 'json'], /-o takes yaml/],
  ])('%j is refused', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });
});
