// What `serverimage restore` makes of an image's VM definition: a VirtualMachine
// whose imaged volumes come back from the registry by digest, either as DataVolumes that
// CDI imports (`registry` source) or as containerDisks, plus the Secret and ConfigMap CDI
// reads for a private registry. Pure: the same inputs give the same manifests, so
// `-o yaml` and a direct create make the same objects.
import type { VmArtifactDocument, VmArtifactVolume } from '../../export/vm-artifact.js';
import type { Credentials } from '../../registry/index.js';

export type RestoreForm = 'datavolume' | 'containerdisk';

export interface RestoreOptions {
  name: string;
  namespace: string;
  as: RestoreForm;
  storageClass?: string;
  newIdentity: boolean;
  runStrategy?: 'Halted' | 'Always';
  pullMethod: 'pod' | 'node';
  /** Registry access the restored VM needs (made into Secrets / ConfigMaps in its namespace). */
  credentials?: Credentials;
  caPem?: string;
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

type Json = Record<string, unknown>;

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const registryHostOf = (reference: string) => reference.split('/')[0]!;

/** Names of what a restore makes beside the VM. */
export function restoreNames(vmName: string) {
  return {
    cdiSecret: `${vmName}-registry`,
    pullSecret: `${vmName}-registry-pull`,
    caConfigMap: `${vmName}-registry-ca`,
    dataVolume: (volume: string) => `${vmName}-${volume}`,
  };
}

/** The manifests to create, in order: Secret / ConfigMap first, the VirtualMachine last. */
export function restoreManifests(document: VmArtifactDocument, options: RestoreOptions): Manifest[] {
  const names = restoreNames(options.name);
  const { namespace } = options;
  const out: Manifest[] = [];
  // A node pull goes through the node's container runtime: its credentials and CA, not ours.
  const podPull = options.as === 'datavolume' && options.pullMethod === 'pod';
  const cdiSecret = options.credentials && podPull ? names.cdiSecret : undefined;
  const caConfigMap = options.caPem && podPull ? names.caConfigMap : undefined;
  const pullSecret = options.credentials && options.as === 'containerdisk' ? names.pullSecret : undefined;
  if (cdiSecret) {
    // CDI's format for a registry source's secretRef.
    out.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: cdiSecret, namespace },
      type: 'Opaque',
      data: {
        accessKeyId: b64(options.credentials!.username),
        secretKey: b64(options.credentials!.password),
      },
    });
  }
  if (pullSecret) {
    const host = registryHostOf(document.volumes[0]!.reference);
    const { username, password } = options.credentials!;
    const config = { auths: { [host]: { username, password, auth: b64(`${username}:${password}`) } } };
    out.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: pullSecret, namespace },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': b64(JSON.stringify(config)) },
    });
  }
  if (caConfigMap) {
    out.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: caConfigMap, namespace },
      data: { 'ca.crt': options.caPem! },
    });
  }
  out.push(restoredVm(document, options, { cdiSecret, caConfigMap, pullSecret }));
  return out;
}

function restoredVm(
  document: VmArtifactDocument,
  options: RestoreOptions,
  refs: { cdiSecret?: string; caConfigMap?: string; pullSecret?: string },
): Manifest {
  const names = restoreNames(options.name);
  const original = structuredClone(document.virtualMachine);
  const spec = original.spec as Json;
  const template = ((spec.template ??= {}) as Json).spec as Json | undefined;
  const volumes = (template?.volumes ?? []) as Json[];
  const imaged = new Map(document.volumes.map((v) => [v.volume, v]));
  // The original's DataVolumes are replaced by ours: their templates go with them.
  const replacedDataVolumes = new Set<string>();
  const templates: Json[] = [];
  for (const [index, volume] of volumes.entries()) {
    const image = imaged.get(volume.name as string);
    if (!image) continue;
    const dataVolume = (volume.dataVolume as { name?: string } | undefined)?.name;
    if (dataVolume) replacedDataVolumes.add(dataVolume);
    if (options.as === 'datavolume') {
      const name = names.dataVolume(image.volume);
      volumes[index] = { name: volume.name, dataVolume: { name } };
      templates.push(dataVolumeTemplate(name, image, options, refs));
    } else {
      const containerDisk: Json = { image: image.reference };
      if (refs.pullSecret) containerDisk.imagePullSecret = refs.pullSecret;
      volumes[index] = { name: volume.name, containerDisk };
    }
  }
  const kept = ((spec.dataVolumeTemplates ?? []) as { metadata?: { name?: string } }[]).filter(
    (t) => !replacedDataVolumes.has(t.metadata?.name ?? ''),
  );
  if (kept.length + templates.length > 0) spec.dataVolumeTemplates = [...kept, ...templates];
  else delete spec.dataVolumeTemplates;
  // A revision names a ControllerRevision of the original's namespace: the restored VM
  // gets its own from the instancetype and preference.
  for (const matcher of ['instancetype', 'preference'])
    delete (spec[matcher] as Json | undefined)?.revisionName;
  if (options.runStrategy) {
    delete spec.running;
    spec.runStrategy = options.runStrategy;
  }
  if (options.newIdentity && template) clearIdentity(template);
  const { labels, annotations } = original.metadata as Manifest['metadata'];
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: {
      name: options.name,
      namespace: options.namespace,
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
    },
    spec,
  };
}

function dataVolumeTemplate(
  name: string,
  image: VmArtifactVolume,
  options: RestoreOptions,
  refs: { cdiSecret?: string; caConfigMap?: string },
): Json {
  const registry: Json = { url: `docker://${image.reference}` };
  if (options.pullMethod === 'node') registry.pullMethod = 'node';
  if (refs.cdiSecret) registry.secretRef = refs.cdiSecret;
  if (refs.caConfigMap) registry.certConfigMap = refs.caConfigMap;
  const storage: Json = {};
  // The disk's own size: the `storage` API adds the filesystem overhead on top.
  if (image.diskSize !== undefined) storage.resources = { requests: { storage: String(image.diskSize) } };
  if (options.storageClass) storage.storageClassName = options.storageClass;
  return { metadata: { name }, spec: { source: { registry }, storage } };
}

/**
 * A second VM beside the original must not share its MACs (two NICs with one address on a
 * network) or its firmware UUID (the guest's identity, e.g. for cloud-init and licences).
 */
function clearIdentity(template: Json): void {
  const domain = template.domain as Json | undefined;
  const interfaces = ((domain?.devices as Json | undefined)?.interfaces ?? []) as Json[];
  for (const iface of interfaces) delete iface.macAddress;
  const firmware = domain?.firmware as Json | undefined;
  if (firmware) delete firmware.uuid;
}
