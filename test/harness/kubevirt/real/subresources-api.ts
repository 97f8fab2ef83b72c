// The simulator serving virt-api's aggregated API `subresources.kubevirt.io/v1`, as far
// as snapshots need it: PUT .../virtualmachineinstances/NAME/freeze and /unfreeze (which
// virt-api forwards to virt-handler, which asks the guest agent). The real kube-apiserver
// routes to it as to virt-api: an APIService whose Service `kubevirt/virt-api` is of type
// ExternalName `localhost` (the aggregator dials an ExternalName Service's name; a
// ClusterIP would need kube-proxy). Each call is recorded, and the VMI's
// status.fsFreezeStatus is set to "frozen" / removed, as virt-handler reports it.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { createCertificateAuthority } from '../../tls.js';
import { isApiError } from '../api.js';
import { KUBEVIRT_NAMESPACE } from './virt-controller.js';

const GROUP = 'subresources.kubevirt.io';
const VERSION = 'v1';
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export interface FreezeCall {
  namespace: string;
  name: string;
  action: 'freeze' | 'unfreeze';
}

export interface SubresourcesApi {
  calls: FreezeCall[];
  stop(): Promise<void>;
}

const discovery = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: `${GROUP}/${VERSION}`,
  resources: ['freeze', 'unfreeze'].map((sub) => ({
    name: `virtualmachineinstances/${sub}`,
    namespaced: true,
    kind: 'VirtualMachineInstance',
    verbs: ['update'],
  })),
};

export async function startSubresourcesApi(kc: k8s.KubeConfig): Promise<SubresourcesApi> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const calls: FreezeCall[] = [];
  const keyPair = createCertificateAuthority('virt-api-ca').issue({
    commonName: 'virt-api',
    dnsNames: ['localhost'],
    usage: 'server',
  });
  const pattern = new RegExp(
    `^/apis/${GROUP}/${VERSION}/namespaces/([^/]+)/virtualmachineinstances/([^/]+)/(freeze|unfreeze)$`,
  );
  const server = https.createServer({ cert: keyPair.certPem, key: keyPair.keyPem }, (req, res) => {
    const url = (req.url ?? '').split('?')[0]!;
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    if (req.method === 'GET' && url === `/apis/${GROUP}/${VERSION}`) return answer(200, discovery);
    const m = pattern.exec(url);
    if (!m || req.method !== 'PUT') return answer(404, { kind: 'Status', status: 'Failure', code: 404 });
    const [, namespace, name, action] = m as unknown as [string, string, string, 'freeze' | 'unfreeze'];
    calls.push({ namespace, name, action });
    void custom
      .patchNamespacedCustomObject(
        {
          group: 'kubevirt.io',
          version: 'v1',
          plural: 'virtualmachineinstances',
          namespace,
          name,
          body: { status: { fsFreezeStatus: action === 'freeze' ? 'frozen' : null } },
          fieldManager: 'serverimage-sim-virt-handler',
        },
        mergePatch,
      )
      .then(
        () => answer(200, {}),
        (err) => answer(isApiError(err, 404) ? 404 : 500, { kind: 'Status', message: String(err) }),
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedService({
    namespace: KUBEVIRT_NAMESPACE,
    body: {
      metadata: { name: 'virt-api' },
      spec: { type: 'ExternalName', externalName: 'localhost', ports: [{ port, protocol: 'TCP' }] },
    },
  });
  const registration = kc.makeApiClient(k8s.ApiregistrationV1Api);
  await registration.createAPIService({
    body: {
      metadata: { name: `${VERSION}.${GROUP}` },
      spec: {
        group: GROUP,
        version: VERSION,
        service: { namespace: KUBEVIRT_NAMESPACE, name: 'virt-api', port },
        insecureSkipTLSVerify: true,
        groupPriorityMinimum: 1000,
        versionPriority: 15,
      },
    },
  });
  // The aggregator marks it Available once its discovery answers.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const svc = await registration.readAPIService({ name: `${VERSION}.${GROUP}` });
    const available = (svc.status?.conditions ?? []).find((c) => c.type === 'Available');
    if (available?.status === 'True') break;
    if (Date.now() > deadline)
      throw new Error(`APIService ${VERSION}.${GROUP} not Available: ${JSON.stringify(available)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    calls,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
