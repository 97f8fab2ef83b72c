import { parseCommandLine, type CreateCommand } from '../../../src/cli/args.js';
import { buildServerImage, expandRepository } from '../../../src/cli/server-image-request.js';

const now = new Date('2026-11-27T03:04:05Z');
const create = (...argv: string[]) => parseCommandLine(['create', ...argv]) as CreateCommand;

test('the least request: VM, repository, generated name; defaults left to the API server', () => {
  expect(buildServerImage(create('web-01', '--repository', 'reg.example.com/vms/{vm}'), 'prod', now)).toEqual(
    {
      apiVersion: 'serverimage.io/v1alpha1',
      kind: 'ServerImage',
      metadata: { name: 'web-01-20261127-030405', namespace: 'prod' },
      spec: { serverRef: { name: 'web-01' }, registry: { repository: 'reg.example.com/vms/web-01' } },
    },
  );
});

test('every flag lands in its field', () => {
  const body = buildServerImage(
    create(
      'web-01',
      '--name',
      'nightly',
      '--image-name',
      'web-01 nightly',
      '--property',
      'os_distro=fedora',
      '--repository',
      'reg.example.com/vms/web',
      '--tag',
      'v1',
      '--credentials',
      'regcred',
      '--ca-secret',
      'regca',
      '--insecure',
      '--volume',
      'rootdisk',
      '--deletion-policy',
      'Delete',
    ),
    'prod',
    now,
  );
  expect(body).toEqual({
    apiVersion: 'serverimage.io/v1alpha1',
    kind: 'ServerImage',
    metadata: { name: 'nightly', namespace: 'prod' },
    spec: {
      serverRef: { name: 'web-01' },
      imageName: 'web-01 nightly',
      metadata: { os_distro: 'fedora' },
      registry: {
        repository: 'reg.example.com/vms/web',
        tag: 'v1',
        credentialsSecretRef: { name: 'regcred' },
        caBundleSecretRef: { name: 'regca' },
        insecure: true,
      },
      volumes: ['rootdisk'],
      deletionPolicy: 'Delete',
    },
  });
});

test('{vm} stands for the VM name, wherever and however often', () => {
  expect(expandRepository('r.example.com/{vm}/disks-{vm}', 'db')).toBe('r.example.com/db/disks-db');
  expect(expandRepository('r.example.com/all', 'db')).toBe('r.example.com/all');
});
