// ServerImages as the API server returns them, for the formatting tests.
import type { StoredServerImage } from '../../../src/cli/server-image-client.js';

export function storedImage(
  status: StoredServerImage['status'] = undefined,
  extra: Partial<StoredServerImage['spec']> = {},
): StoredServerImage {
  return {
    apiVersion: 'serverimage.io/v1alpha1',
    kind: 'ServerImage',
    metadata: {
      name: 'web-01-nightly',
      namespace: 'prod',
      uid: 'u-1',
      creationTimestamp: '2026-11-27T03:00:00Z',
    },
    spec: {
      serverRef: { name: 'web-01' },
      registry: { repository: 'reg.example.com/vms/web-01', insecure: false },
      deletionPolicy: 'Retain',
      format: { compression: 'gzip', disk: 'raw', layout: 'containerDisk' },
      ...extra,
    },
    ...(status ? { status } : {}),
  };
}

export const condition = (
  type: string,
  status: 'True' | 'False',
  reason: string,
  message: string,
  at = '2026-11-27T03:00:30Z',
) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: at,
});

export const MiB = 2 ** 20;

export function savingImage(done: number, total = 64 * MiB): StoredServerImage {
  return storedImage({
    phase: 'Saving',
    conditions: [condition('Ready', 'False', 'Pushing', 'Pushing rootdisk to reg.example.com/vms/web-01')],
    progress: { bytesDone: done, bytesTotal: total },
  });
}

export const activeImage = () =>
  storedImage({
    phase: 'Active',
    startTime: '2026-11-27T03:00:01Z',
    completionTime: '2026-11-27T03:01:31Z',
    conditions: [
      condition('Ready', 'True', 'Active', 'Image reg.example.com/vms/web-01:web-01-nightly is active'),
      condition(
        'Snapshotted',
        'True',
        'Succeeded',
        'VirtualMachineSnapshot web-01-nightly-1a2b3c4d is ready',
      ),
    ],
    server: { statusAtRequest: 'Running', restored: true },
    snapshot: { name: 'web-01-nightly-1a2b3c4d', indications: ['Online', 'GuestAgent'] },
    images: [
      {
        volume: 'rootdisk',
        reference: 'reg.example.com/vms/web-01:web-01-nightly',
        digest: `sha256:${'a'.repeat(64)}`,
        size: 25 * MiB,
        diskFormat: 'raw',
      },
    ],
    progress: { bytesDone: 64 * MiB, bytesTotal: 64 * MiB },
  });

/** A stream that records what is written, as a terminal or not. */
export function recorder(isTTY = false, columns = 100) {
  const chunks: string[] = [];
  return { chunks, text: () => chunks.join(''), write: (s: string) => chunks.push(s), isTTY, columns };
}
