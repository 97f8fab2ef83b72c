// The restart cases (serverimage-restart-cases.ts) on KubeVirt's real virt-controller
// v1.8.4: operator processes, each resolving the exporter's Service name through the
// bed's cluster DNS (kubevirt/real/cluster-dns.ts), are SIGKILLed mid-push; the snapshot
// and export they find again are KubeVirt's, and the pacing fault acts at the Service proxy.
import { expectStatusByVirtController, recordManagers } from './field-managers.js';
import { restartCases } from './serverimage-restart-cases.js';
import { serverImageTestFile } from './serverimage-fixtures.js';

const bed = serverImageTestFile({
  namespace: 'si-restart-real',
  operatorFlags: null,
  simOptions: { realKubevirt: true },
});

let recorder: ReturnType<typeof recordManagers>;
beforeAll(async () => {
  recorder = recordManagers(bed.ns);
  await recorder.start();
});
afterAll(() => recorder?.stop());

restartCases(bed, {
  // Its registry precondition fails in Queued: no snapshot or export is made, so the real
  // controller has no part in it; the simulator's suite runs it.
  'an operator restarted while an image retries': 'makes no KubeVirt object',
});

test("every snapshot's and export's status above was written by virt-controller only", () => {
  expectStatusByVirtController(recorder);
});
