// The transfer Pod of one ServerImage's push, as a pure function of the request and the
// operator's settings (the --transfer-* flags).
//
// A bare Pod, not a Job: the operator already owns the retry policy (the budget and
// deadline in status.retry, the per-registry backoff, resuming with the layers a failed
// attempt completed), and a Job would add a second one (backoffLimit, its own Pod names
// with random suffixes) between the operator and the Pod it must read the termination
// message and progress of. A bare Pod has the name the operator gives it (one per
// attempt), restartPolicy Never (an attempt that fails is the operator's to retry, with
// the next request), and nothing reschedules it behind the operator's back.
//
// Hardened as the operator's own Pod: non-root, read-only root file system, no
// capabilities, seccomp RuntimeDefault, no privilege escalation, and no ServiceAccount
// token (the Pod never calls the API: its request is in its environment, its result is
// the termination message, its progress an endpoint the operator polls). Credentials only
// as Secret volumes.
import type { V1Pod, V1ResourceRequirements, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { SERVERIMAGE_LABEL } from '../api/metadata-keys.js';
import type { ServerImageSpec } from '../api/serverimage.js';
import type { Config } from '../config.js';
import { childNames } from '../controllers/serverimage/child-names.js';
import { controllerOwnerReference } from '../kube/owner.js';
import { TERMINATION_MESSAGE_PATH } from './result.js';
import {
  encodeRequest,
  EXPORT_TOKEN_FILE,
  MOUNTS,
  PROGRESS_PORT,
  REGISTRY_CA_FILE,
  REQUEST_ENV,
  type TransferRequestInput,
} from './request.js';

/** The --transfer-* flags. */
export type TransferPodSettings = Pick<
  Config,
  | 'transferImage'
  | 'transferCpuRequest'
  | 'transferMemoryRequest'
  | 'transferCpuLimit'
  | 'transferMemoryLimit'
  | 'transferNodeSelector'
  | 'transferTolerations'
  | 'transferPriorityClassName'
  | 'logLevel'
>;

/** The ServerImage as far as its transfer Pod needs it. */
export interface TransferOwner {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid: string };
  spec: { registry: Pick<ServerImageSpec['registry'], 'credentialsSecretRef' | 'caBundleSecretRef'> };
}

export interface TransferPodInput {
  owner: TransferOwner;
  /** 1 for the first attempt: each attempt is a Pod of its own, so a failed one stays readable. */
  attempt: number;
  request: TransferRequestInput;
  /** The Secret holding the export token (key `token`), made by the operator for the export. */
  exportTokenSecret: string;
  /** The node of the exporter Pod: preferred, so the disk's bytes need not cross the network. */
  exporterNode?: string;
  settings: TransferPodSettings;
}

/** The operator image's user (its Dockerfile's USER): numeric, so runAsNonRoot can verify it. */
export const TRANSFER_UID = 65532;
/** The transfer entry point inside the operator's image. */
export const TRANSFER_COMMAND = ['node', '--max-semi-space-size=1', '/app/dist/transfer/main.js'];
/** Time to cancel the upload session after SIGTERM (one DELETE, retried). */
export const TRANSFER_GRACE_SECONDS = 30;
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const TRANSFER_COMPONENT = 'transfer';
export const ATTEMPT_LABEL = 'serverimage.io/transfer-attempt';

/** `<name>-<uid8>-transfer-<attempt>`: derived like the ServerImage's other children. */
export function transferPodName(name: string, uid: string, attempt: number): string {
  return `${childNames(name, uid).export}-transfer-${attempt}`;
}

export function transferPod(input: TransferPodInput): V1Pod {
  const { owner, settings } = input;
  const { name, namespace, uid } = owner.metadata;
  if (!settings.transferImage) throw new Error('--transfer-image is not set: the transfer Pod has no image');
  if (!Number.isInteger(input.attempt) || input.attempt < 1)
    throw new Error(`a transfer attempt is a positive integer, got ${input.attempt}`);
  const { volumes, mounts } = secretVolumes(owner, input.exportTokenSecret);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: transferPodName(name, uid, input.attempt),
      namespace,
      labels: {
        [SERVERIMAGE_LABEL]: name.slice(0, 63).replace(/[-_.]+$/, ''),
        'app.kubernetes.io/name': 'serverimage-operator',
        [COMPONENT_LABEL]: TRANSFER_COMPONENT,
        [ATTEMPT_LABEL]: String(input.attempt),
      },
      ownerReferences: [controllerOwnerReference(owner)],
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      // No environment variables for every Service of the tenant's namespace.
      enableServiceLinks: false,
      terminationGracePeriodSeconds: TRANSFER_GRACE_SECONDS,
      ...(settings.transferPriorityClassName
        ? { priorityClassName: settings.transferPriorityClassName }
        : {}),
      ...(Object.keys(settings.transferNodeSelector).length > 0
        ? { nodeSelector: { ...settings.transferNodeSelector } }
        : {}),
      ...(settings.transferTolerations.length > 0
        ? { tolerations: settings.transferTolerations.map((t) => ({ ...t })) }
        : {}),
      ...(input.exporterNode
        ? {
            affinity: {
              nodeAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [
                  {
                    weight: 100,
                    preference: {
                      matchFields: [{ key: 'metadata.name', operator: 'In', values: [input.exporterNode] }],
                    },
                  },
                ],
              },
            },
          }
        : {}),
      securityContext: {
        runAsNonRoot: true,
        runAsUser: TRANSFER_UID,
        runAsGroup: TRANSFER_UID,
        // The Secret volumes' files are the group's to read (mode 0440), not the world's.
        fsGroup: TRANSFER_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'transfer',
          image: settings.transferImage,
          imagePullPolicy: 'IfNotPresent',
          command: [...TRANSFER_COMMAND],
          env: [
            { name: REQUEST_ENV, value: encodeRequest(input.request) },
            { name: 'LOG_LEVEL', value: settings.logLevel },
          ],
          ports: [{ name: 'progress', containerPort: PROGRESS_PORT, protocol: 'TCP' }],
          resources: resources(settings),
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
          },
          terminationMessagePath: TERMINATION_MESSAGE_PATH,
          terminationMessagePolicy: 'File',
          volumeMounts: mounts,
        },
      ],
      volumes,
    },
  };
}

function resources(settings: TransferPodSettings): V1ResourceRequirements {
  const list = (cpu: string, memory: string) => ({
    ...(cpu ? { cpu } : {}),
    ...(memory ? { memory } : {}),
  });
  const requests = list(settings.transferCpuRequest, settings.transferMemoryRequest);
  const limits = list(settings.transferCpuLimit, settings.transferMemoryLimit);
  return {
    ...(Object.keys(requests).length > 0 ? { requests } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
}

const READ_BY_GROUP = 0o440;

function secretVolumes(
  owner: TransferOwner,
  exportTokenSecret: string,
): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const { credentialsSecretRef, caBundleSecretRef } = owner.spec.registry;
  const volumes: V1Volume[] = [
    {
      name: 'export-token',
      secret: {
        secretName: exportTokenSecret,
        items: [{ key: 'token', path: EXPORT_TOKEN_FILE }],
        defaultMode: READ_BY_GROUP,
      },
    },
  ];
  const mounts: V1VolumeMount[] = [{ name: 'export-token', mountPath: MOUNTS.exportToken, readOnly: true }];
  if (credentialsSecretRef) {
    volumes.push({
      name: 'registry-credentials',
      secret: { secretName: credentialsSecretRef.name, defaultMode: READ_BY_GROUP },
    });
    mounts.push({ name: 'registry-credentials', mountPath: MOUNTS.registryCredentials, readOnly: true });
  }
  if (caBundleSecretRef) {
    volumes.push({
      name: 'registry-ca',
      secret: {
        secretName: caBundleSecretRef.name,
        items: [{ key: caBundleSecretRef.key ?? 'ca.crt', path: REGISTRY_CA_FILE }],
        defaultMode: READ_BY_GROUP,
      },
    });
    mounts.push({ name: 'registry-ca', mountPath: MOUNTS.registryCa, readOnly: true });
  }
  return { volumes, mounts };
}
