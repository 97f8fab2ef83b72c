// The throw-away VirtualMachineInstance that verifies an image by booting it
// (spec.verify.boot): its name and manifest (pure), and how far it got (its phase and
// conditions, as KubeVirt reports them). Only the boot volume is booted: it is what has to
// come up, one image pulls faster than all of them, and a data disk is not needed to tell a
// guest that boots from one that does not (a guest that will not boot without its data
// disks fails its check: docs/how-it-works.md says so).
import type { KubernetesObject } from '@kubernetes/client-node';
import { SERVERIMAGE_LABEL } from '../../api/metadata-keys.js';
import { controllerOwnerReference } from '../../kube/index.js';
import { VIRTUAL_MACHINE_INSTANCE } from '../../kubevirt/groups.js';
import { childNames } from './child-names.js';
import type { ServerImageObject } from './types.js';

/** Memory of the throw-away VMI when the VM names none of its own (an instance type, say). */
export const DEFAULT_VERIFY_MEMORY = '1Gi';

/** `<name>-<uid prefix>-verify`: deterministic, so a restarted operator finds it. */
export function verificationVmiName(si: ServerImageObject): string {
  return `${childNames(si.metadata.name, si.metadata.uid).snapshot}-verify`;
}

/** The parts of the VM's template spec the throw-away VMI takes over. */
interface VmTemplateSpec {
  nodeSelector?: Record<string, string>;
  affinity?: unknown;
  tolerations?: unknown[];
  domain?: {
    memory?: { guest?: string };
    resources?: { requests?: Record<string, string> };
    firmware?: { bootloader?: unknown };
    machine?: unknown;
    features?: unknown;
    devices?: { disks?: Array<{ name: string; disk?: { bus?: string } }> };
  };
}

export function vmTemplateSpec(vm: KubernetesObject | undefined): VmTemplateSpec {
  return (vm as { spec?: { template?: { spec?: VmTemplateSpec } } } | undefined)?.spec?.template?.spec ?? {};
}

/**
 * The VMI: the boot image as a containerDisk by digest (what was verified is what is
 * stored), no network, one vCPU, the VM's memory, firmware, machine and features (an EFI
 * guest does not boot under BIOS), its node placement (architecture, labels), and the
 * registry credentials Secret as the pull secret when there is one.
 */
export function verificationVmiManifest(
  si: ServerImageObject,
  vm: KubernetesObject | undefined,
): Record<string, unknown> {
  const boot = si.status?.images?.[0];
  if (!boot) throw new Error('no image to verify');
  const spec = vmTemplateSpec(vm);
  const domain = spec.domain ?? {};
  const memory = domain.memory?.guest ?? domain.resources?.requests?.memory ?? DEFAULT_VERIFY_MEMORY;
  const bus = domain.devices?.disks?.find((d) => d.name === boot.volume)?.disk?.bus ?? 'virtio';
  const pullSecret = si.spec.registry.credentialsSecretRef?.name;
  return {
    apiVersion: `${VIRTUAL_MACHINE_INSTANCE.group}/${VIRTUAL_MACHINE_INSTANCE.version}`,
    kind: VIRTUAL_MACHINE_INSTANCE.kind,
    metadata: {
      name: verificationVmiName(si),
      namespace: si.metadata.namespace,
      labels: { [SERVERIMAGE_LABEL]: si.metadata.name.slice(0, 63) },
      ownerReferences: [controllerOwnerReference(si)],
    },
    spec: {
      terminationGracePeriodSeconds: 0,
      ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
      ...(spec.affinity ? { affinity: spec.affinity } : {}),
      ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
      domain: {
        cpu: { cores: 1, sockets: 1, threads: 1 },
        memory: { guest: memory },
        resources: { requests: { memory } },
        ...(domain.firmware?.bootloader ? { firmware: { bootloader: domain.firmware.bootloader } } : {}),
        ...(domain.machine ? { machine: domain.machine } : {}),
        ...(domain.features ? { features: domain.features } : {}),
        devices: {
          autoattachPodInterface: false,
          interfaces: [],
          disks: [{ name: 'boot', disk: { bus } }],
        },
      },
      networks: [],
      volumes: [
        {
          name: 'boot',
          containerDisk: {
            image: `${si.spec.registry.repository}@${boot.digest}`,
            ...(pullSecret ? { imagePullSecret: pullSecret } : {}),
          },
        },
      ],
    },
  };
}

/** What the verification reads off its VMI. */
export interface VmiState {
  phase?: string;
  conditions: Array<{ type: string; status: string; reason?: string; message?: string }>;
  deleting: boolean;
}

export function vmiState(vmi: KubernetesObject): VmiState {
  const status = (vmi as { status?: { phase?: string; conditions?: VmiState['conditions'] } }).status;
  return {
    phase: status?.phase,
    conditions: status?.conditions ?? [],
    deleting: !!vmi.metadata?.deletionTimestamp,
  };
}

/** "phase Scheduling; Ready=False (GuestNotRunning: ...)": how far a VMI got, for a message. */
export function describeVmiState(state: VmiState | undefined): string {
  if (!state) return 'the VMI is not there';
  const conditions = state.conditions
    .filter((c) => c.status !== 'True' || c.type === 'Ready')
    .map(
      (c) =>
        `${c.type}=${c.status}${c.reason || c.message ? ` (${[c.reason, c.message].filter(Boolean).join(': ')})` : ''}`,
    );
  return [`phase ${state.phase ?? 'Pending'}`, ...conditions].join('; ');
}
