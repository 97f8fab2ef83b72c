// KubeVirt's real virt-api (v1.8.4) on the real node, laid out by virt-operator's own
// generators (tools/kubevirt-crds -virt-api): KubeVirt's PriorityClass, virt-api's
// ServiceAccount and RBAC, the Service `kubevirt/virt-api`, the Deployment, the APIServices
// `v1` and `v1alpha3.subresources.kubevirt.io` and the webhook configurations
// `virt-api-mutator` and `virt-api-validator`. The API server reaches it as in a cluster:
// the aggregator and the webhooks dial the Service's ClusterIP (the host routes the node's
// Service range to it, kube-proxy forwards to the Pod), and the aggregator presents its
// front-proxy client certificate (../../control-plane.ts). virt-api serves the
// subresources (freeze, unfreeze, pause, guestosinfo ...) by calling virt-handler on the
// VMI's node with the client certificate `kubevirt-virt-handler-certs` (virt-handler-pod.ts)
// and defaults and validates VMs and VMIs.
// What the bed sets that virt-operator would set otherwise, each for this bed:
// - the Deployment's image (the bed's, present in the node's containerd), one replica (one
//   node to run on) and a nodeSelector for the real node (the kubelet stand-in's Node runs
//   no containers);
// - its serving certificate (Secret `kubevirt-virt-api-certs`, for virt-api.kubevirt.svc)
//   from a CA of its own, which the APIServices and webhooks carry as their caBundle
//   (virt-operator signs it with the kubevirt-ca it also signs virt-handler's with);
// - the webhooks are registered once virt-api is Ready: they fail closed (failurePolicy
//   Fail), so no VM or VMI could be written while it starts.
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { RealNode } from '../../node/real-node.js';
import { waitFor } from '../../process.js';
import { createCertificateAuthority } from '../../tls.js';
import { containerLog } from './virt-handler-pod.js';
import { KUBEVIRT_NAMESPACE } from './virt-controller.js';

const buildTools = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'tools',
  'build-tools.sh',
);

type Obj = k8s.KubernetesObject & Record<string, unknown>;
type Webhook = { clientConfig: { caBundle?: string } };

export interface RealVirtApi {
  /** The virt-api container's log so far (the kubelet's file). */
  log(): string;
  stop(): Promise<void>;
}

/** virt-operator's objects for virt-api, as its generators make them. */
function virtApiObjects(namespace: string): Obj[] {
  // build-tools.sh links kubevirt-crds to this checkout's build (it prints the folder); the
  // file it names is read at once: a checkout with another kubevirt-crds source sharing the
  // tools cache re-points the link whenever it runs its own.
  const bin = execFileSync('bash', [buildTools, 'kubevirt-crds'], { encoding: 'utf8' }).trim();
  const tool = realpathSync(path.join(bin, 'kubevirt-crds'));
  const out = execFileSync(tool, ['-virt-api', namespace], { encoding: 'utf8' });
  return parseAllDocuments(out)
    .map((doc) => doc.toJS() as Obj | null)
    .filter((o): o is Obj => !!o?.kind);
}

export async function startRealVirtApi(options: {
  kc: k8s.KubeConfig;
  node: RealNode;
  image: string;
}): Promise<RealVirtApi> {
  const { kc, node } = options;
  const ns = KUBEVIRT_NAMESPACE;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const registration = kc.makeApiClient(k8s.ApiregistrationV1Api);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  // Created as virt-operator creates them (not applied: the Deployment's two ports share
  // 8443, which a server-side apply refuses as duplicate list keys).
  const create = (o: Obj) => objects.create(o);

  const ca = createCertificateAuthority('kubevirt-virt-api-ca');
  const serving = ca.issue({
    commonName: 'virt-api',
    dnsNames: ['virt-api', `virt-api.${ns}`, `virt-api.${ns}.svc`, `virt-api.${ns}.svc.cluster.local`],
    usage: 'server',
  });
  const caBundle = Buffer.from(ca.certPem).toString('base64');
  await create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'kubevirt-virt-api-certs', namespace: ns },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': Buffer.from(serving.certPem).toString('base64'),
      'tls.key': Buffer.from(serving.keyPem).toString('base64'),
    },
  });

  // Its client certificate for virt-handler is virt-handler's Secret (virt-handler-pod.ts
  // makes it first): mounted before it exists, the volume would stay empty until the
  // kubelet's next sync of it.
  await waitFor(
    'the Secret kubevirt-virt-handler-certs',
    () =>
      core.readNamespacedSecret({ namespace: ns, name: 'kubevirt-virt-handler-certs' }).then(
        () => true,
        () => false,
      ),
    60_000,
  );
  const all = virtApiObjects(ns);
  const webhooks = all.filter((o) => /WebhookConfiguration$/.test(o.kind!));
  for (const o of all.filter((o) => !webhooks.includes(o))) {
    if (o.kind === 'Deployment') {
      const spec = o.spec as k8s.V1DeploymentSpec;
      spec.replicas = 1;
      const pod = spec.template.spec!;
      pod.nodeSelector = { 'kubernetes.io/hostname': node.nodeName };
      pod.containers[0]!.image = options.image;
      pod.containers[0]!.imagePullPolicy = 'IfNotPresent';
    }
    if (o.kind === 'APIService') (o.spec as k8s.V1APIServiceSpec).caBundle = caBundle;
    await create(o);
  }

  const podOf = async () =>
    (await core.listNamespacedPod({ namespace: ns, labelSelector: 'kubevirt.io=virt-api' })).items[0];
  let pod: k8s.V1Pod | undefined;
  const api: RealVirtApi = {
    log: () => (pod?.metadata?.name ? containerLog(node, ns, pod.metadata.name, 'virt-api') : ''),
    stop: async () => {
      for (const o of webhooks) await objects.delete(o).catch(() => undefined);
      for (const o of all.filter((o) => o.kind === 'APIService'))
        await objects.delete(o).catch(() => undefined);
      await apps.deleteNamespacedDeployment({ namespace: ns, name: 'virt-api' }).catch(() => undefined);
      // No garbage collection is needed for the node's stop: its Pods go with it.
    },
  };
  try {
    await waitFor(
      'virt-api Ready and its APIService Available',
      async () => {
        pod = await podOf();
        if (!pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return false;
        const svc = await registration.readAPIService({ name: 'v1.subresources.kubevirt.io' });
        return (svc.status?.conditions ?? []).some((c) => c.type === 'Available' && c.status === 'True');
      },
      // Its readiness probe starts 15 s after the container, every 10 s; minutes on a
      // machine as loaded as this one gets.
      240_000,
      () => `Pod status ${JSON.stringify(pod?.status)}\nvirt-api:\n${api.log().slice(-6000)}`,
    );
    for (const o of webhooks) {
      for (const w of (o as { webhooks?: Webhook[] }).webhooks ?? []) w.clientConfig.caBundle = caBundle;
      await create(o);
    }
  } catch (err) {
    await api.stop();
    throw err;
  }
  return api;
}
