// SLOW TEST (~45 s), on purpose: client-node 2.0.0 aborted every watch 30 s after it
// started, healthy or not (kubernetes-client/javascript#3020, fixed by PR #3022 in
// 2.0.1 with an inactivity timeout). This keeps one watch busy for well past those
// 30 s (over 40 s) and checks that it is still the same watch connection and still
// delivers events.
//
// It watches ConfigMaps, not ServerImages: on a fresh control plane, where this file
// may be the one that creates our CRD, we saw the API server close the watch on the
// custom resource once shortly after the CRD was created (its storage is rebuilt while
// the CRD settles; re-applying an unchanged CRD does not do it). That server-side close
// is normal informer life (it reconnects) but would make "one connection" untestable.
import * as k8s from '@kubernetes/client-node';
import { Informer } from '../../src/kube/informer.js';
import { createNamespace, kubeConfig } from '../harness/testbed.js';
import { eventually } from './kube-fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('[slow, ~45 s] one watch outlives the 30 s abort of client-node 2.0.0 and keeps delivering events', async () => {
  const ns = await createNamespace('kube-long-watch');
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const informer = new Informer<k8s.V1ConfigMap>({
    kubeConfig: kubeConfig(),
    resource: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' },
    namespace: ns,
  });
  const added: string[] = [];
  informer.addHandlers({ onAdd: (o) => added.push(o.metadata!.name!) });
  informer.start();
  try {
    await informer.waitForSync();
    const started = Date.now();
    // One event every 10 s keeps the inactivity timer (30 s) from firing, so any
    // reconnect here would be the 2.0.0 bug.
    for (let i = 0; Date.now() - started < 40_000; i++) {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `tick-${i}` } } });
      await eventually(`tick-${i} delivered`, () => added.includes(`tick-${i}`));
      await sleep(10_000);
    }
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'tick-last' } } });
    await eventually('the last event, after more than 40 s', () => added.includes('tick-last'));
    expect(Date.now() - started).toBeGreaterThan(40_000);
    // kube-root-ca.crt is not published here (no controller manager), so only ticks.
    expect(added.filter((n) => n.startsWith('tick-')).length).toBeGreaterThanOrEqual(4);
    expect(informer.connections()).toBe(1);
    expect(informer.restarts()).toBe(0);
  } finally {
    await informer.stop();
  }
}, 100_000);
