// The bed must not load its own API server (issue 11): the simulator writes a status only
// when it changes, and a change requeues only the objects it concerns. An idle VM, with a
// PVC disk and a DataVolume disk, costs no API writes over a minute (counted in the API
// server's audit log) while unrelated PVCs come and change beside it.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ann } from '../harness/kubevirt/annotations.js';
import { DATA_VOLUME } from '../harness/kubevirt/api.js';
import { startKubevirtSimulator, type KubevirtSimulator } from '../harness/kubevirt/simulator.js';
import { SimTestClient } from '../harness/kubevirt/testing.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';

const WINDOW_MS = 60_000;

let sim: KubevirtSimulator;
let client: SimTestClient;
let ns: string;

beforeAll(async () => {
  sim = await startKubevirtSimulator({ kubeConfig: kubeConfig() });
  client = new SimTestClient(kubeConfig());
  ns = await createNamespace('sim-quiet');
});

afterAll(async () => {
  await sim?.stop();
});

interface AuditEvent {
  verb: string;
  stage: string;
  requestReceivedTimestamp: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
}

function writesSince(since: number, names: Set<string>): AuditEvent[] {
  return readFileSync(process.env.SERVERIMAGE_TESTBED_AUDIT_LOG!, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter(
      (e) =>
        e.stage === 'ResponseComplete' &&
        e.objectRef?.namespace === ns &&
        names.has(e.objectRef.name ?? '') &&
        new Date(e.requestReceivedTimestamp).getTime() >= since,
    );
}

test(
  'an idle VM costs no API writes over a minute while unrelated PVCs change',
  async () => {
    await client.createDiskPvc(ns, 'idle-root', { size: '1Mi' });
    await client.create(DATA_VOLUME, ns, {
      metadata: { name: 'idle-data' },
      spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Mi' } } } },
    });
    await client.createVm(ns, 'idle', {
      runStrategy: 'Always',
      annotations: { [Ann.guestAgent]: 'true' },
      volumes: [
        { name: 'rootdisk', persistentVolumeClaim: { claimName: 'idle-root' } },
        { name: 'datadisk', dataVolume: { name: 'idle-data' } },
      ],
    });
    await client.waitFor(DATA_VOLUME, ns, 'idle-data', (o) => o.status?.phase === 'Succeeded');
    await client.waitForVmStatus(ns, 'idle', 'Running');
    await sleep(2000); // the last writes of getting there settle
    const since = Date.now();
    const vmReconciles = sim.reconciles('vm', `${ns}/idle`);
    const dvReconciles = sim.reconciles('datavolume', `${ns}/idle-data`);

    // Beside it, other PVCs are made, bound, given bytes and changed (what 89% of a loaded
    // bed's writes once answered with a status patch of every VM in the namespace).
    let n = 0;
    while (Date.now() - since < WINDOW_MS) {
      const name = `other-${n++}`;
      await client.createDiskPvc(ns, name, { size: '64Ki' });
      await client.patchPvc(ns, name, { metadata: { annotations: { [Ann.diskSeed]: `changed-${n}` } } });
      await sleep(3000);
    }
    await sleep(2500); // the audit log is written in 1 s batches

    const writes = writesSince(since, new Set(['idle', 'idle-root', 'idle-data']));
    expect(writes.map((e) => `${e.verb} ${e.objectRef?.resource}/${e.objectRef?.subresource ?? ''}`)).toEqual(
      [],
    );
    // And the other PVCs' changes did not even requeue the VM or its DataVolume.
    expect(sim.reconciles('vm', `${ns}/idle`)).toBe(vmReconciles);
    expect(sim.reconciles('datavolume', `${ns}/idle-data`)).toBe(dvReconciles);
    // The churn did happen, and the bed answered it (bound and gave bytes to each PVC).
    expect(writesSince(since, new Set(['other-0', 'other-1'])).length).toBeGreaterThanOrEqual(6);
  },
  WINDOW_MS + 30_000,
);
