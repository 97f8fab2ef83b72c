// A real VM in the bed: KubeVirt's real virt-controller, virt-handler (a Pod on the real
// node) and virt-launcher (its Pod there, libvirt and QEMU from Debian's packages) start a
// VMI from a containerDisk built here, under QEMU's emulation (the KubeVirt CR's
// useEmulation). The guest's own line on its serial console, read from the launcher Pod's
// guest-console-log container (virt-tail), shows it really booted; its qemu-guest-agent
// answers the launcher, and virt-handler writes what it says into the VMI. The real virt-api
// (a Pod on the node) defaults the VMI through its webhook and serves virtctl's freeze,
// unfreeze, pause and unpause, which reach the guest's agent and libvirt.
// Runs in `npm test` and `npm run test:vms`, which first build the tools and the VM images
// outside jest's timeouts and set SERVERIMAGE_REAL_VMS=1 (without it, e.g. a bare
// `npm run test:jest`, it is skipped: the images may not be built): a first run builds KubeVirt's launcher
// against trixie's libvirt and the VM images (minutes), and each run imports the 470 MB
// launcher image into the node and boots a guest under emulation (about a minute).
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { startRealKubevirt, type RealKubevirt } from '../harness/kubevirt/real/bed.js';
import { containerLog } from '../harness/kubevirt/real/virt-handler-pod.js';
import { until } from '../harness/kubevirt/testing.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import { REAL_VMS_ENABLED, VMI, guestVmiSpec } from './real-vm-fixtures.js';

let sim: RealKubevirt;
let ns: string;
let custom: k8s.CustomObjectsApi;
let core: k8s.CoreV1Api;

beforeAll(async () => {
  if (!REAL_VMS_ENABLED) return;
  sim = await startRealKubevirt({ node: 'real', vms: true });
  custom = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  ns = await createNamespace('vm');
}, 900_000);

afterAll(async () => {
  await sim?.stop();
});

type Obj = { metadata: k8s.V1ObjectMeta; status?: { phase?: string; nodeName?: string } };
type Spec = { architecture?: string; domain: { machine?: { type?: string }; firmware?: { uuid?: string } } };
type Vmi = Obj & {
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string }>;
    guestOSInfo?: { id?: string; prettyName?: string; kernelRelease?: string };
    fsFreezeStatus?: string;
  };
};

/**
 * PUT of a VMI subresource through the API server (what virtctl freeze/unfreeze/pause do):
 * the aggregator sends it to virt-api, which asks virt-handler on the VMI's node.
 */
async function subresource(ns: string, name: string, sub: string, body: unknown = {}): Promise<void> {
  const kc = kubeConfig();
  const url = new URL(
    `/apis/subresources.kubevirt.io/v1/namespaces/${ns}/virtualmachineinstances/${name}/${sub}`,
    kc.getCurrentCluster()!.server,
  );
  const options: https.RequestOptions = { method: 'PUT', headers: { 'Content-Type': 'application/json' } };
  await kc.applyToHTTPSOptions(options);
  await new Promise<void>((resolve, reject) => {
    const req = https.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve()
          : reject(
              new Error(
                `PUT ${sub}: HTTP ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 1000)}`,
              ),
            ),
      );
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const maybe = REAL_VMS_ENABLED ? it : it.skip;

maybe(
  'boots a containerDisk VMI in real QEMU through the real virt-api; its guest agent answers, freezes and thaws',
  async () => {
    const node = sim.realNode!;
    const created = Date.now();
    await custom.createNamespacedCustomObject({
      ...VMI,
      namespace: ns,
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstance',
        metadata: { name: 'guest' },
        spec: guestVmiSpec(node.nodeName, {
          containerDisk: { image: node.image('vm-guest'), imagePullPolicy: 'IfNotPresent' },
        }),
      },
    });
    let vmi: Obj | undefined;
    const launcherPod = async () =>
      (await core.listNamespacedPod({ namespace: ns, labelSelector: 'kubevirt.io=virt-launcher' })).items[0];
    const describe = async () => {
      const pod = await launcherPod().catch(() => undefined);
      const logs = pod
        ? ['compute', 'guest-console-log']
            .map((c) => `--- ${c}:\n${containerLog(node, ns, pod.metadata!.name!, c).slice(-4000)}`)
            .join('\n')
        : 'no launcher Pod';
      return `VMI status ${JSON.stringify(vmi?.status)}\nPod status ${JSON.stringify(pod?.status)}\n${logs}\n--- virt-handler:\n${sim.virtHandler!.log().slice(-4000)}`;
    };
    await until(
      'the VMI Running',
      async () => {
        vmi = (await custom.getNamespacedCustomObject({ ...VMI, namespace: ns, name: 'guest' })) as Obj;
        if (vmi.status?.phase === 'Failed') throw new Error(`VMI Failed\n${await describe()}`);
        return vmi.status?.phase === 'Running';
      },
      240_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await describe()}`);
    });
    expect(vmi!.status!.nodeName).toBe(node.nodeName);
    // What virt-api's mutating webhook defaulted (the VMI was created without them): the
    // machine type, the firmware's UUID (libvirt's domain keeps it across defines), the
    // architecture ...
    const spec = (vmi as unknown as { spec: Spec }).spec;
    expect(spec.domain.machine?.type).toBe('q35');
    expect(spec.domain.firmware?.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(spec.architecture).toBe('amd64');
    // ... and that QEMU runs as KubeVirt's non-root qemu user.
    expect((vmi as unknown as { status: { runtimeUser?: number } }).status.runtimeUser).toBe(107);
    const pod = (await launcherPod())!;
    expect(pod.spec!.nodeName).toBe(node.nodeName);
    // The launcher Pod's status is the real kubelet's.
    expect(
      pod.metadata!.managedFields!.some((f) => f.manager === 'kubelet' && f.subresource === 'status'),
    ).toBe(true);
    // virt-handler's doing on the Node: KubeVirt's label, its device plugins registered with
    // the kubelet (vhost-net advertises 0: this machine has no /dev/vhost-net).
    const nodeObj = await core.readNode({ name: node.nodeName });
    expect(nodeObj.metadata!.labels!['kubevirt.io/schedulable']).toBe('true');
    expect(nodeObj.status!.allocatable!['devices.kubevirt.io/kvm']).toMatch(/^[1-9]/); // e.g. 1k
    expect(nodeObj.status!.allocatable!['devices.kubevirt.io/tun']).toMatch(/^[1-9]/); // e.g. 1k
    expect(nodeObj.status!.allocatable!).toHaveProperty(['devices.kubevirt.io/vhost-net']);
    // useEmulation: the launcher Pod asks for no /dev/kvm, and the launcher says it emulates.
    expect(containerLog(node, ns, pod.metadata!.name!, 'compute')).toContain(
      'kvm not present. Using software emulation.',
    );
    // The guest's init prints this once its kernel is up (build-images.sh's vm-guest).
    const console = await until(
      'the guest line on the serial console',
      async () => {
        const out = containerLog(node, ns, pod.metadata!.name!, 'guest-console-log');
        return /serverimage-guest: booted, kernel \S+/.exec(out)?.[0];
      },
      120_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await describe()}`);
    });
    expect(console).toMatch(/^serverimage-guest: booted, kernel 6\./);
    const booted = Date.now();

    // The guest's qemu-guest-agent on its virtio-serial port: libvirt reports the channel
    // connected and virt-handler writes AgentConnected; the launcher's agent poller asks it
    // for the guest's OS (guest-get-osinfo, the guest's /etc/os-release) and virt-handler
    // writes that into the VMI's status.
    const agentVmi = await until(
      "the guest agent connected and the guest's OS in the VMI's status",
      async () => {
        vmi = (await custom.getNamespacedCustomObject({ ...VMI, namespace: ns, name: 'guest' })) as Obj;
        const v = vmi as Vmi;
        const connected = v.status?.conditions?.some(
          (c) => c.type === 'AgentConnected' && c.status === 'True',
        );
        return connected && v.status?.guestOSInfo?.id ? v : undefined;
      },
      120_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await describe()}`);
    });
    expect(agentVmi.status!.guestOSInfo).toMatchObject({
      id: 'debian',
      prettyName: 'Debian GNU/Linux 13 (trixie)',
    });
    expect(agentVmi.status!.guestOSInfo!.kernelRelease).toMatch(/^6\.\d+\.\d+.*-cloud-amd64$/);
    // No condition saying the agent lacks a command KubeVirt needs.
    expect(agentVmi.status!.conditions!.map((c) => c.type)).not.toContain('UnsupportedAgent');
    const agentAt = Date.now();

    // virtctl freeze / unfreeze: through the API server's aggregator to the real virt-api, to
    // virt-handler, to the launcher, to the guest's agent, which freezes its ext4 /data and
    // says so in its syslog on the serial console; the launcher's poller reads the agent's
    // freeze status back and virt-handler writes it into the VMI.
    const consoleLog = () => containerLog(node, ns, pod.metadata!.name!, 'guest-console-log');
    const freezeStatus = async () =>
      ((await custom.getNamespacedCustomObject({ ...VMI, namespace: ns, name: 'guest' })) as Vmi).status
        ?.fsFreezeStatus;
    const freezeAsked = Date.now();
    await subresource(ns, 'guest', 'freeze', { unfreezeTimeout: '5m0s' });
    const freezeAnswered = Date.now();
    // The agent's syslog line reaches the launcher's console log after the call returns.
    await until('the agent\'s "guest-fsfreeze called" on the console', async () =>
      /qemu-ga: info: guest-fsfreeze called/.test(consoleLog()),
    );
    await until('fsFreezeStatus frozen', async () => (await freezeStatus()) === 'frozen', 60_000);
    const frozenInStatus = Date.now();
    await subresource(ns, 'guest', 'unfreeze');
    // The agent's syslog line reaches the launcher's console log after the call returns.
    await until('the agent\'s "guest-fsthaw called" on the console', async () =>
      /qemu-ga: info: guest-fsthaw called/.test(consoleLog()),
    );
    await until('fsFreezeStatus gone', async () => (await freezeStatus()) === undefined, 60_000);
    const thawedInStatus = Date.now();

    // virtctl pause / unpause: libvirt suspends the domain; virt-handler writes Paused.
    const paused = async () =>
      (
        (await custom.getNamespacedCustomObject({ ...VMI, namespace: ns, name: 'guest' })) as Vmi
      ).status?.conditions?.find((c) => c.type === 'Paused');
    await subresource(ns, 'guest', 'pause');
    const pausedCondition = await until(
      'the VMI Paused',
      async () => (await paused())?.status === 'True' && (await paused()),
      60_000,
    );
    expect(pausedCondition.reason).toBe('PausedByUser');
    await subresource(ns, 'guest', 'unpause');
    await until('the VMI no longer Paused', async () => (await paused()) === undefined, 60_000);

    if (process.env.SERVERIMAGE_VM_TIMES)
      process.stdout.write(
        `real VM: Running and the guest's line on the console ${booted - created} ms after the VMI's create, the agent connected ${agentAt - booted} ms after that; ` +
          `freeze answered in ${freezeAnswered - freezeAsked} ms, frozen in the VMI's status ${frozenInStatus - freezeAsked} ms after the call, thawed there ${thawedInStatus - frozenInStatus} ms after that\n`,
      );
  },
  600_000,
);
