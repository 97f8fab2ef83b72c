// The ServerImage CRD on the real API server: applied with kubectl, bad requests
// refused with a message naming the field (Nova's 400), a valid one round-trips.
import { installProjectCrds } from '../harness/crds.js';
import { createNamespace, kubectl } from '../harness/testbed.js';

let namespace: string;

beforeAll(async () => {
  await installProjectCrds();
  namespace = await createNamespace('crd');
});

type Spec = Record<string, unknown>;

const validSpec = (): Spec => ({
  serverRef: { name: 'web-01' },
  imageName: 'web-01 nightly',
  metadata: { os_distro: 'fedora', 'hw:cpu policy': 'dedicated' },
  registry: {
    repository: 'registry.example.com/vm-images/web-01',
    tag: 'nightly-2026-11-27',
    credentialsSecretRef: { name: 'regcred' },
  },
  volumes: ['rootdisk', 'data'],
  format: { compression: 'zstd', disk: 'qcow2', layout: 'containerDisk' },
  deletionPolicy: 'Delete',
});

function manifest(name: string, spec: Spec | undefined): string {
  return JSON.stringify({
    apiVersion: 'serverimage.io/v1alpha1',
    kind: 'ServerImage',
    metadata: { name, namespace },
    ...(spec === undefined ? {} : { spec }),
  });
}

const withSpec = (patch: (spec: Spec) => void): Spec => {
  const spec = validSpec();
  patch(spec);
  return spec;
};
const registry = (spec: Spec) => spec.registry as Spec;
const manyEntries = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`key-${i}`, 'v']));

// [what is wrong, spec, the field the message must name, a phrase of the message]
const badManifests: [string, Spec | undefined, string, string][] = [
  ['no spec at all', undefined, 'spec', 'Required value'],
  ['no serverRef', withSpec((s) => delete s.serverRef), 'spec.serverRef', 'Required value'],
  [
    'serverRef.name not DNS-1123',
    withSpec((s) => (s.serverRef = { name: 'Web_01' })),
    'spec.serverRef.name',
    'should match',
  ],
  ['empty imageName', withSpec((s) => (s.imageName = '')), 'spec.imageName', 'at least 1 chars'],
  [
    'imageName of 256 characters',
    withSpec((s) => (s.imageName = 'x'.repeat(256))),
    'spec.imageName',
    'may not be more than 255',
  ],
  ['129 metadata entries', withSpec((s) => (s.metadata = manyEntries(129))), 'spec.metadata', 'at most 128'],
  [
    'metadata key with a slash',
    withSpec((s) => (s.metadata = { 'bad/key': 'v' })),
    'spec.metadata',
    'metadata keys must',
  ],
  [
    'metadata value of 256 characters',
    withSpec((s) => (s.metadata = { os_distro: 'x'.repeat(256) })),
    'spec.metadata.os_distro',
    'may not be more than 255',
  ],
  [
    'metadata value not a string',
    withSpec((s) => (s.metadata = { min_ram: 512 })),
    'spec.metadata.min_ram',
    'string',
  ],
  ['no registry', withSpec((s) => delete s.registry), 'spec.registry', 'Required value'],
  [
    'repository without a registry host',
    withSpec((s) => (registry(s).repository = 'vm-images/web-01')),
    'spec.registry.repository',
    'should match',
  ],
  [
    'repository with upper-case path',
    withSpec((s) => (registry(s).repository = 'registry.example.com/VM-Images')),
    'spec.registry.repository',
    'should match',
  ],
  [
    'tag starting with a dash',
    withSpec((s) => (registry(s).tag = '-nightly')),
    'spec.registry.tag',
    'should match',
  ],
  [
    'tag of 129 characters',
    withSpec((s) => (registry(s).tag = 'a'.repeat(129))),
    'spec.registry.tag',
    'may not be more than 128',
  ],
  [
    'empty credentials Secret name',
    withSpec((s) => (registry(s).credentialsSecretRef = { name: '' })),
    'spec.registry.credentialsSecretRef.name',
    'at least 1 chars',
  ],
  [
    'insecure together with a CA bundle',
    withSpec((s) => Object.assign(registry(s), { insecure: true, caBundleSecretRef: { name: 'ca' } })),
    'spec.registry.insecure',
    'exclude each other',
  ],
  [
    'unknown deletionPolicy',
    withSpec((s) => (s.deletionPolicy = 'Sometimes')),
    'spec.deletionPolicy',
    'supported values',
  ],
  [
    'unknown compression',
    withSpec((s) => (s.format = { compression: 'xz' })),
    'spec.format.compression',
    'supported values',
  ],
  [
    'unknown disk format',
    withSpec((s) => (s.format = { disk: 'vmdk' })),
    'spec.format.disk',
    'supported values',
  ],
  [
    'chunked layout with gzip (the default compression)',
    withSpec((s) => (s.format = { layout: 'chunked' })),
    'spec.format',
    'layout chunked stores zstd chunks: set compression: zstd',
  ],
  [
    'chunked layout of a qcow2 file',
    withSpec((s) => (s.format = { compression: 'zstd', disk: 'qcow2', layout: 'chunked' })),
    'spec.format',
    'layout chunked stores raw disk bytes: set disk: raw',
  ],
  [
    'unknown layout',
    withSpec((s) => (s.format = { layout: 'layered' })),
    'spec.format.layout',
    'supported values',
  ],
  [
    'volume name not DNS-1123',
    withSpec((s) => (s.volumes = ['Root_Disk'])),
    'spec.volumes[0]',
    'should match',
  ],
  [
    'a volume named twice',
    withSpec((s) => (s.volumes = ['rootdisk', 'rootdisk'])),
    'spec.volumes[1]',
    'Duplicate value',
  ],
];

describe('a bad ServerImage is refused by the API server, naming the field', () => {
  test.each(badManifests)('%s', async (_what, spec, field, phrase) => {
    const result = await kubectl(['apply', '-f', '-'], manifest('bad', spec));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`${field}:`);
    expect(result.stderr).toContain(phrase);
  });

  test('a name longer than a tag allows, without an explicit tag', async () => {
    const spec = withSpec((s) => delete registry(s).tag);
    const result = await kubectl(['apply', '-f', '-'], manifest('n'.repeat(129), spec));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('spec.registry.tag:');
    expect(result.stderr).toContain('limit of an image tag');
  });

  test('a change of spec after creation', async () => {
    expect((await kubectl(['apply', '-f', '-'], manifest('immutable', validSpec()))).code).toBe(0);
    const changed = withSpec((s) => (s.imageName = 'another name'));
    const result = await kubectl(['apply', '-f', '-'], manifest('immutable', changed));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('spec:');
    expect(result.stderr).toContain('spec is immutable');
  });
});

describe('a valid ServerImage', () => {
  test('round-trips with its defaults filled in', async () => {
    const minimal = { serverRef: { name: 'web-01' }, registry: { repository: '127.0.0.1:5000/vm/web-01' } };
    expect((await kubectl(['apply', '-f', '-'], manifest('minimal', minimal))).code).toBe(0);
    expect((await kubectl(['apply', '-f', '-'], manifest('full', validSpec()))).code).toBe(0);

    const read = async (name: string) =>
      JSON.parse((await kubectl(['get', 'serverimage', name, '-n', namespace, '-o', 'json'])).stdout);
    expect((await read('full')).spec).toEqual(
      withSpec((s) => Object.assign(registry(s), { insecure: false })),
    );
    expect((await read('minimal')).spec).toEqual({
      ...minimal,
      registry: { ...minimal.registry, insecure: false },
      format: { compression: 'gzip', disk: 'raw', layout: 'containerDisk' },
      deletionPolicy: 'Retain',
    });
    // Half a format: the other half gets its default.
    const half = { ...minimal, format: { disk: 'qcow2' } };
    expect((await kubectl(['apply', '-f', '-'], manifest('half', half))).code).toBe(0);
    expect((await read('half')).spec.format).toEqual({
      compression: 'gzip',
      disk: 'qcow2',
      layout: 'containerDisk',
    });
    const chunked = { ...minimal, format: { compression: 'zstd', layout: 'chunked' } };
    expect((await kubectl(['apply', '-f', '-'], manifest('chunked', chunked))).code).toBe(0);
    expect((await read('chunked')).spec.format).toEqual({
      compression: 'zstd',
      disk: 'raw',
      layout: 'chunked',
    });
  });

  test('is listed with its printer columns and short name', async () => {
    const result = await kubectl(['get', 'simg', '-n', namespace]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^NAME\s+SERVER\s+PHASE\s+IMAGE\s+REASON\s+AGE/);
    expect(result.stdout).toContain('web-01');
  });

  test('accepts a status written through the status subresource', async () => {
    const status = {
      phase: 'Queued',
      observedGeneration: 1,
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'Queued',
          message: 'waiting for the VirtualMachine',
          lastTransitionTime: '2026-11-27T12:00:00Z',
        },
      ],
    };
    const patched = await kubectl([
      'patch',
      'serverimage',
      'minimal',
      '-n',
      namespace,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ]);
    expect(patched.stderr).toBe('');
    const read = JSON.parse(
      (await kubectl(['get', 'serverimage', 'minimal', '-n', namespace, '-o', 'json'])).stdout,
    );
    expect(read.status).toEqual(status);
  });
});

test('kubectl explain prints our descriptions', async () => {
  const spec = await kubectl(['explain', 'serverimage.spec']);
  expect(spec.code).toBe(0);
  expect(spec.stdout).toContain('The image request. Immutable after creation');
  expect(spec.stdout).toContain('serverRef');
  expect(spec.stdout).toContain('Nova createImage.metadata');
  const repository = await kubectl(['explain', 'serverimage.spec.registry.repository']);
  expect(repository.stdout).toContain('OCI repository the images are pushed to');
});
