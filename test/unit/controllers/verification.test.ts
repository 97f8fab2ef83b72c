// Boot verification (spec.verify.boot): the pure rule (verified, failed, timed out, a
// restart continuing the deadline kept in status), the throw-away VMI's manifest, and the
// step on an Active image with the VMI cache and the API faked.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Deps } from '../../../src/controllers/serverimage/deps.js';
import { Scope } from '../../../src/controllers/serverimage/scope.js';
import type { ServerImageObject } from '../../../src/controllers/serverimage/types.js';
import {
  decideVerification,
  parseApiDuration,
} from '../../../src/controllers/serverimage/verification-decision.js';
import { Slots } from '../../../src/controllers/serverimage/slots.js';
import {
  verificationStep,
  type VerificationVmis,
} from '../../../src/controllers/serverimage/verification.js';
import {
  verificationVmiManifest,
  verificationVmiName,
  type VmiState,
} from '../../../src/controllers/serverimage/verification-vmi.js';

const T0 = new Date('2026-12-06T03:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const UID = '0123abcd-0000-0000-0000-000000000000';
const DIGEST = `sha256:${'a'.repeat(64)}`;

const vmi = (conditions: VmiState['conditions'] = [], phase = 'Running'): VmiState => ({
  phase,
  conditions,
  deleting: false,
});
const agent = { type: 'AgentConnected', status: 'True' };
const ready = { type: 'Ready', status: 'True' };

describe('decideVerification', () => {
  const base = { timeoutMs: 300_000, check: 'GuestAgent' as const };

  it('starts when nothing was begun', () => {
    expect(decideVerification({ ...base, now: T0 })).toEqual({ action: 'start' });
  });

  it('is Verified when the guest agent connected within the timeout', () => {
    const step = decideVerification({
      ...base,
      now: at(42_000),
      startTime: T0.toISOString(),
      vmi: vmi([ready, agent]),
    });
    expect(step).toEqual({ action: 'verified', message: 'Booted: the guest agent connected after 42s' });
  });

  it('waits for the agent while the VMI runs, until the deadline kept in status', () => {
    const step = decideVerification({
      ...base,
      now: at(60_000),
      startTime: T0.toISOString(),
      vmi: vmi([ready]),
    });
    expect(step).toEqual({ action: 'wait', requeueAfterMs: 240_000 });
  });

  it('check Running: the VMI Ready is enough', () => {
    const step = decideVerification({
      ...base,
      check: 'Running',
      now: at(5000),
      startTime: T0.toISOString(),
      vmi: vmi([ready]),
    });
    expect(step).toMatchObject({ action: 'verified' });
  });

  it('fails past the timeout and says how far the VMI got', () => {
    const step = decideVerification({
      ...base,
      now: at(300_000),
      startTime: T0.toISOString(),
      vmi: vmi([
        { type: 'Ready', status: 'True' },
        { type: 'AgentConnected', status: 'False' },
      ]),
    });
    expect(step).toEqual({
      action: 'failed',
      message:
        'Did not boot within 5m: the guest agent did not connect; phase Running; Ready=True; AgentConnected=False',
    });
  });

  it('fails at once when the VMI ended', () => {
    const step = decideVerification({
      ...base,
      now: at(10_000),
      startTime: T0.toISOString(),
      vmi: vmi([{ type: 'Ready', status: 'False', reason: 'GuestNotRunning' }], 'Failed'),
    });
    expect(step).toMatchObject({ action: 'failed' });
    expect((step as { message: string }).message).toMatch(
      /^The VMI ended \(phase Failed; Ready=False \(GuestNotRunning\)\)/,
    );
  });

  it('a restarted operator keeps the deadline of the start kept in status', () => {
    // Started 4 minutes before the restart: one minute is left, not five.
    const startTime = at(-240_000).toISOString();
    expect(decideVerification({ ...base, now: T0, startTime, vmi: vmi() })).toEqual({
      action: 'wait',
      requeueAfterMs: 60_000,
    });
    // Past it, the result is recorded even though no VMI change woke us.
    expect(decideVerification({ ...base, now: at(61_000), startTime, vmi: vmi() })).toMatchObject({
      action: 'failed',
    });
  });

  it('creates the VMI again when it is not there within the deadline; fails with the create error past it', () => {
    const startTime = T0.toISOString();
    expect(decideVerification({ ...base, now: at(1000), startTime })).toEqual({ action: 'create' });
    expect(
      decideVerification({ ...base, now: at(300_000), startTime, lastError: 'admission webhook said no' }),
    ).toEqual({
      action: 'failed',
      message:
        'Did not boot within 5m: the guest agent did not connect; the VMI could not be created: admission webhook said no',
    });
  });

  it('parses the API durations', () => {
    expect(parseApiDuration('5m')).toBe(300_000);
    expect(parseApiDuration('90s')).toBe(90_000);
    expect(parseApiDuration('1h30m')).toBe(5_400_000);
    expect(() => parseApiDuration('5')).toThrow();
  });
});

const si = (
  status: ServerImageObject['status'] = {},
  spec: Partial<ServerImageObject['spec']> = {},
): ServerImageObject => ({
  apiVersion: 'serverimage.io/v1alpha1',
  kind: 'ServerImage',
  metadata: { name: 'web-image', namespace: 'prod', uid: UID, generation: 1 },
  spec: {
    serverRef: { name: 'web' },
    registry: {
      repository: 'registry.example/vms/web',
      insecure: false,
      credentialsSecretRef: { name: 'pull' },
    },
    format: { compression: 'gzip', disk: 'raw', layout: 'containerDisk' },
    deletionPolicy: 'Retain',
    verify: { boot: { timeout: '5m', check: 'GuestAgent' } },
    ...spec,
  },
  status: {
    phase: 'Active',
    images: [
      {
        volume: 'rootdisk',
        reference: 'registry.example/vms/web:web-image',
        digest: DIGEST,
        size: 1,
        diskFormat: 'raw',
      },
    ],
    ...status,
  },
});

const vm: KubernetesObject = {
  metadata: { name: 'web', namespace: 'prod' },
  spec: {
    template: {
      spec: {
        nodeSelector: { 'kubernetes.io/arch': 'amd64' },
        domain: {
          memory: { guest: '2Gi' },
          firmware: { bootloader: { efi: { secureBoot: false } }, uuid: 'x' },
          devices: { disks: [{ name: 'rootdisk', disk: { bus: 'sata' }, bootOrder: 1 }] },
        },
      },
    },
  },
} as KubernetesObject;

describe('the throw-away VMI', () => {
  it('boots the boot image by digest, without network, with the VM memory, firmware and placement', () => {
    expect(verificationVmiName(si())).toBe('web-image-0123abcd-verify');
    expect(verificationVmiManifest(si(), vm)).toEqual({
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstance',
      metadata: {
        name: 'web-image-0123abcd-verify',
        namespace: 'prod',
        labels: { 'serverimage.io/serverimage': 'web-image' },
        ownerReferences: [expect.objectContaining({ kind: 'ServerImage', uid: UID, controller: true })],
      },
      spec: {
        terminationGracePeriodSeconds: 0,
        nodeSelector: { 'kubernetes.io/arch': 'amd64' },
        domain: {
          cpu: { cores: 1, sockets: 1, threads: 1 },
          memory: { guest: '2Gi' },
          resources: { requests: { memory: '2Gi' } },
          firmware: { bootloader: { efi: { secureBoot: false } } },
          devices: {
            autoattachPodInterface: false,
            interfaces: [],
            disks: [{ name: 'boot', disk: { bus: 'sata' } }],
          },
        },
        networks: [],
        volumes: [
          {
            name: 'boot',
            containerDisk: { image: `registry.example/vms/web@${DIGEST}`, imagePullSecret: 'pull' },
          },
        ],
      },
    });
  });

  it('without the VM: 1Gi, virtio', () => {
    const spec = verificationVmiManifest(
      si({}, { registry: { repository: 'r.example/x', insecure: false } }),
      undefined,
    ).spec as {
      domain: { memory: unknown; devices: { disks: unknown } };
      volumes: Array<{ containerDisk: unknown }>;
    };
    expect(spec.domain.memory).toEqual({ guest: '1Gi' });
    expect(spec.domain.devices.disks).toEqual([{ name: 'boot', disk: { bus: 'virtio' } }]);
    expect(spec.volumes[0]!.containerDisk).toEqual({ image: `r.example/x@${DIGEST}` });
  });
});

describe('verificationStep', () => {
  function fakes(
    present?: KubernetesObject,
    slots = new Slots(
      2,
      () => [],
      () => undefined,
    ),
  ) {
    const calls: string[] = [];
    const results: string[] = [];
    const verification = {
      slots,
      get: () => present,
      create: async () => {
        calls.push('create');
      },
      delete: async () => {
        calls.push('delete');
        slots.release('prod/web-image');
        return true;
      },
    } as unknown as VerificationVmis;
    const deps = {
      config: { maxConcurrentVerifications: 2 },
      vms: { get: () => vm },
      verification,
      verificationMetrics: { verified: (r: string) => results.push(r) },
    } as unknown as Deps;
    return { deps, calls, results };
  }
  const vmiObject = (conditions: VmiState['conditions']): KubernetesObject =>
    ({
      metadata: { name: 'web-image-0123abcd-verify' },
      status: { phase: 'Running', conditions },
    }) as KubernetesObject;

  it('does nothing without spec.verify', async () => {
    const f = fakes();
    const scope = new Scope(si({}, { verify: undefined }), T0);
    expect(await verificationStep(scope, f.deps)).toBeUndefined();
    expect(f.calls).toEqual([]);
    expect(scope.status.verification).toBeUndefined();
  });

  it('starts: the VMI, Verifying with its start time, Verified=Unknown, an event', async () => {
    const f = fakes();
    const scope = new Scope(si(), T0);
    expect(await verificationStep(scope, f.deps)).toEqual({ requeueAfter: 300_000 });
    expect(f.calls).toEqual(['create']);
    expect(scope.status.verification).toEqual({ result: 'Verifying', startTime: '2026-12-06T03:00:00Z' });
    expect(scope.condition('Verified')).toMatchObject({ status: 'Unknown', reason: 'Verifying' });
    expect(scope.events.map((e) => e.reason)).toEqual(['Verifying']);
    expect(scope.phase).toBe('Active');
  });

  it('Verified when the agent connects: condition True, event, metric, the VMI deleted', async () => {
    const f = fakes(vmiObject([ready, agent]));
    const scope = new Scope(
      si({ verification: { result: 'Verifying', startTime: '2026-12-06T03:00:00Z' } }),
      at(75_000),
    );
    await verificationStep(scope, f.deps);
    expect(scope.status.verification).toEqual({
      result: 'Verified',
      startTime: '2026-12-06T03:00:00Z',
      completionTime: '2026-12-06T03:01:15Z',
      message: 'Booted: the guest agent connected after 1m15s',
    });
    expect(scope.condition('Verified')).toMatchObject({ status: 'True', reason: 'BootVerified' });
    expect(scope.events).toEqual([{ type: 'Normal', reason: 'BootVerified', message: expect.any(String) }]);
    expect(f.results).toEqual(['Verified']);
    expect(f.calls).toEqual(['delete']);
    expect(scope.phase).toBe('Active');
  });

  it('VerificationFailed past the deadline: a Warning, the VMI deleted, the phase still Active', async () => {
    const f = fakes(vmiObject([ready]));
    const scope = new Scope(
      si({ verification: { result: 'Verifying', startTime: '2026-12-06T03:00:00Z' } }),
      at(300_000),
    );
    await verificationStep(scope, f.deps);
    expect(scope.status.verification).toMatchObject({ result: 'VerificationFailed' });
    expect(scope.condition('Verified')).toMatchObject({ status: 'False', reason: 'BootFailed' });
    expect(scope.events[0]).toMatchObject({ type: 'Warning', reason: 'BootFailed' });
    expect(f.results).toEqual(['VerificationFailed']);
    expect(f.calls).toEqual(['delete']);
    expect(scope.phase).toBe('Active');
  });

  it('after the result, a VMI still there (a restart between result and delete) is deleted, nothing else', async () => {
    const f = fakes(vmiObject([]));
    const done = {
      result: 'Verified' as const,
      startTime: '2026-12-06T03:00:00Z',
      completionTime: '2026-12-06T03:01:00Z',
    };
    const scope = new Scope(si({ verification: done }), at(600_000));
    await verificationStep(scope, f.deps);
    expect(f.calls).toEqual(['delete']);
    expect(scope.status.verification).toEqual(done);
    expect(scope.events).toEqual([]);
  });

  it('waits for a verification slot before its deadline starts; a freed slot wakes it', async () => {
    // Two other images' VMIs are booting (the cluster's count), the limit is 2.
    const booting = ['ns/other-a', 'ns/other-b'];
    const woken: string[] = [];
    const slots = new Slots(
      2,
      () => booting,
      (key) => woken.push(key),
    );
    const f = fakes(undefined, slots);
    const scope = new Scope(si(), T0);
    expect(await verificationStep(scope, f.deps)).toBeUndefined();
    expect(f.calls).toEqual([]);
    expect(scope.status.verification).toBeUndefined();
    expect(scope.condition('Verified')).toMatchObject({
      status: 'Unknown',
      reason: 'WaitingForVerificationSlot',
      message: 'Waiting for a free verification slot (2 at once) before booting the image',
    });
    expect(scope.events.map((e) => e.reason)).toEqual(['WaitingForVerificationSlot']);
    // Still waiting a minute later: no second event.
    const later = new Scope(si(scope.status), at(60_000));
    await verificationStep(later, f.deps);
    expect(later.events).toEqual([]);
    // One of the others ends (its VMI goes): this image is woken, and its deadline starts now.
    booting.pop();
    slots.changed();
    expect(woken).toEqual(['prod/web-image']);
    const started = new Scope(si(later.status), at(90_000));
    expect(await verificationStep(started, f.deps)).toEqual({ requeueAfter: 300_000 });
    expect(f.calls).toEqual(['create']);
    expect(started.status.verification).toEqual({ result: 'Verifying', startTime: '2026-12-06T03:01:30Z' });
    // It holds the slot until its VMI is deleted with the result.
    expect(slots.holders()).toEqual(new Set(['ns/other-a', 'prod/web-image']));
    const done = new Scope(si(started.status), at(95_000));
    f.deps.verification!.get = () => vmiObject([ready, agent]);
    await verificationStep(done, f.deps);
    expect(done.status.verification?.result).toBe('Verified');
    expect(slots.holders()).toEqual(new Set(['ns/other-a']));
  });

  it('a chunked image: recorded as not possible, once', async () => {
    const f = fakes();
    const chunked = si({}, { format: { compression: 'zstd', disk: 'raw', layout: 'chunked' } });
    const scope = new Scope(chunked, T0);
    await verificationStep(scope, f.deps);
    expect(scope.condition('Verified')).toMatchObject({ status: 'False', reason: 'VerificationNotPossible' });
    expect(scope.events.map((e) => e.reason)).toEqual(['VerificationNotPossible']);
    expect(f.calls).toEqual([]);
    const again = new Scope({ ...chunked, status: scope.status }, at(1000));
    await verificationStep(again, f.deps);
    expect(again.events).toEqual([]);
  });
});

describe('a ServerImage deleted while verifying', () => {
  it('removes its VMI with the other children (removeChildren, as deletion and Error run it)', async () => {
    const { removeChildren } = await import('../../../src/controllers/serverimage/cleanup.js');
    const deleted: string[] = [];
    const present = { metadata: { name: 'web-image-0123abcd-verify' } } as KubernetesObject;
    const deps = {
      progress: { stop: () => undefined },
      transferPods: { deleteAll: async () => [] },
      children: { delete: async () => [] },
      slots: { release: () => undefined },
      verification: {
        get: () => present,
        delete: async () => {
          deleted.push('vmi');
          return true;
        },
      },
    } as unknown as Deps;
    const removed: string[] = [];
    const scope = new Scope(si({ verification: { result: 'Verifying', startTime: T0.toISOString() } }), T0);
    expect(await removeChildren(scope, deps, false, removed)).toBeUndefined();
    expect(deleted).toEqual(['vmi']);
    expect(removed).toEqual(['the verification VirtualMachineInstance']);
  });
});
