// The transfer Pod as the builder makes it: deterministic, owned, hardened, credentials as
// volumes only, scheduling from the --transfer-* flags, the exporter's node preferred.
import { loadConfig } from '../../../src/config.js';
import { decodeRequest, MOUNTS, PROGRESS_PORT, REQUEST_ENV } from '../../../src/transfer/request.js';
import { transferPod, transferPodName, type TransferPodInput } from '../../../src/transfer/pod-spec.js';

const owner = {
  apiVersion: 'serverimage.io/v1alpha1',
  kind: 'ServerImage',
  metadata: { name: 'web-01.nightly', namespace: 'prod', uid: '0a1b2c3d-4e5f-6789-abcd-ef0123456789' },
  spec: {
    registry: {
      credentialsSecretRef: { name: 'regcred' },
      caBundleSecretRef: { name: 'registry-ca', key: 'bundle.pem' },
    },
  },
};

const request = {
  version: 1 as const,
  repository: 'registry.example.com/vm-images/web-01',
  exportCaPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  volumes: [
    { volume: 'rootdisk', tag: 'nightly', url: 'https://virt-export-x.prod.svc/volumes/rootdisk/disk.img' },
  ],
  format: { compression: 'zstd' as const, disk: 'raw' as const, layout: 'containerDisk' as const },
  imageName: 'web-01 nightly',
  sourceVm: { namespace: 'prod', name: 'web-01', uid: 'vm-uid' },
  created: '2026-12-05T10:00:00.000Z',
};

function input(flags: string[] = [], extra: Partial<TransferPodInput> = {}): TransferPodInput {
  return {
    owner,
    attempt: 1,
    request,
    exportTokenSecret: 'web-01-nightly-0a1b2c3d-export-token',
    settings: loadConfig(['--transfer-image=registry.example.com/serverimage-operator:0.1.0', ...flags], {}),
    ...extra,
  };
}

test('a deterministic name per ServerImage and attempt, our labels, owned by the ServerImage', () => {
  const pod = transferPod(input());
  expect(pod).toEqual(transferPod(input()));
  expect(pod.metadata?.name).toBe('web-01-nightly-0a1b2c3d-transfer-1');
  expect(transferPod(input([], { attempt: 3 })).metadata?.name).toBe(
    transferPodName('web-01.nightly', owner.metadata.uid, 3),
  );
  expect(pod.metadata?.namespace).toBe('prod');
  expect(pod.metadata?.labels).toEqual({
    'serverimage.io/serverimage': 'web-01.nightly',
    'app.kubernetes.io/name': 'serverimage-operator',
    'app.kubernetes.io/component': 'transfer',
    'serverimage.io/transfer-attempt': '1',
  });
  expect(pod.metadata?.ownerReferences).toEqual([
    {
      apiVersion: 'serverimage.io/v1alpha1',
      kind: 'ServerImage',
      name: 'web-01.nightly',
      uid: owner.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ]);
  expect(pod.spec?.restartPolicy).toBe('Never');
});

test('hardened: non-root, read-only root, no capabilities, RuntimeDefault seccomp, no token', () => {
  const spec = transferPod(input()).spec!;
  expect(spec.automountServiceAccountToken).toBe(false);
  expect(spec.enableServiceLinks).toBe(false);
  expect(spec.securityContext).toMatchObject({
    runAsNonRoot: true,
    runAsUser: 65532,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  const container = spec.containers[0]!;
  expect(container.securityContext).toEqual({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
  });
  expect(container.image).toBe('registry.example.com/serverimage-operator:0.1.0');
  expect(container.command).toEqual(['node', '--max-semi-space-size=1', '/app/dist/transfer/main.js']);
  expect(container.ports).toEqual([{ name: 'progress', containerPort: PROGRESS_PORT, protocol: 'TCP' }]);
  expect(container.terminationMessagePath).toBe('/dev/termination-log');
  expect(container.terminationMessagePolicy).toBe('File');
});

test('credentials only as Secret volumes; the request in the environment holds no secret', () => {
  const spec = transferPod(input()).spec!;
  const container = spec.containers[0]!;
  expect(spec.volumes).toEqual([
    {
      name: 'export-token',
      secret: {
        secretName: 'web-01-nightly-0a1b2c3d-export-token',
        items: [{ key: 'token', path: 'token' }],
        defaultMode: 0o440,
      },
    },
    { name: 'registry-credentials', secret: { secretName: 'regcred', defaultMode: 0o440 } },
    {
      name: 'registry-ca',
      secret: {
        secretName: 'registry-ca',
        items: [{ key: 'bundle.pem', path: 'ca.crt' }],
        defaultMode: 0o440,
      },
    },
  ]);
  expect(container.volumeMounts).toEqual([
    { name: 'export-token', mountPath: MOUNTS.exportToken, readOnly: true },
    { name: 'registry-credentials', mountPath: MOUNTS.registryCredentials, readOnly: true },
    { name: 'registry-ca', mountPath: MOUNTS.registryCa, readOnly: true },
  ]);
  const env = container.env!;
  expect(env.map((e) => e.name)).toEqual([REQUEST_ENV, 'LOG_LEVEL']);
  expect(env.every((e) => e.valueFrom === undefined)).toBe(true);
  const sent = decodeRequest(env[0]!.value);
  expect(sent).toMatchObject(request);
  expect(Object.keys(sent)).not.toContain('token');

  // Anonymous registry with the public roots: only the export token is mounted.
  const bare = transferPod(input([], { owner: { ...owner, spec: { registry: {} } } })).spec!;
  expect(bare.volumes?.map((v) => v.name)).toEqual(['export-token']);
});

test('scheduling from the flags, the exporter node preferred', () => {
  const plain = transferPod(input()).spec!;
  expect(plain.containers[0]!.resources).toEqual({
    requests: { cpu: '500m', memory: '256Mi' },
    limits: { memory: '512Mi' },
  });
  expect(plain.nodeSelector).toBeUndefined();
  expect(plain.tolerations).toBeUndefined();
  expect(plain.priorityClassName).toBeUndefined();
  expect(plain.affinity).toBeUndefined();

  const spec = transferPod(
    input(
      [
        '--transfer-cpu-request=2',
        '--transfer-memory-request=1Gi',
        '--transfer-cpu-limit=4',
        '--transfer-memory-limit=',
        '--transfer-node-selector=node-role.example.com/backup=true, disktype=ssd',
        '--transfer-tolerations=[{"key":"backup","operator":"Exists","effect":"NoSchedule"}]',
        '--transfer-priority-class-name=backup-low',
      ],
      { exporterNode: 'worker-3' },
    ),
  ).spec!;
  expect(spec.containers[0]!.resources).toEqual({
    requests: { cpu: '2', memory: '1Gi' },
    limits: { cpu: '4' },
  });
  expect(spec.nodeSelector).toEqual({ 'node-role.example.com/backup': 'true', disktype: 'ssd' });
  expect(spec.tolerations).toEqual([{ key: 'backup', operator: 'Exists', effect: 'NoSchedule' }]);
  expect(spec.priorityClassName).toBe('backup-low');
  expect(spec.affinity).toEqual({
    nodeAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-3'] }] },
        },
      ],
    },
  });
});

test('bad settings are refused at start-up, naming the flag', () => {
  expect(() => loadConfig(['--transfer-memory-limit=lots'], {})).toThrow(
    /--transfer-memory-limit: not a Kubernetes quantity/,
  );
  expect(() => loadConfig(['--transfer-cpu-request=1.5cores'], {})).toThrow(/--transfer-cpu-request/);
  expect(() => loadConfig(['--transfer-node-selector=disktype'], {})).toThrow(
    /--transfer-node-selector: "disktype" is not a label key=value/,
  );
  expect(() => loadConfig(['--transfer-tolerations=[{"key":"a","operator":"Maybe"}]'], {})).toThrow(
    /--transfer-tolerations: 0.operator/,
  );
  expect(() => loadConfig(['--transfer-tolerations={'], {})).toThrow(/--transfer-tolerations: is not JSON/);
  expect(() => transferPod({ ...input(), settings: loadConfig([], {}) })).toThrow(
    /--transfer-image is not set/,
  );
  expect(() => transferPod(input([], { attempt: 0 }))).toThrow(/positive integer/);
  // The request is checked before it goes into a Pod.
  expect(() => transferPod(input([], { request: { ...request, volumes: [] } }))).toThrow();
});
