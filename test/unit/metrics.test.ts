// Both controllers report controller-runtime's metrics into one registry, told apart by
// the controller label (a second set of metric objects would be refused by prom-client).
import { OperatorMetrics } from '../../src/metrics.js';

test('the ServerImage and the schedule controller each get their own series', async () => {
  const metrics = new OperatorMetrics();
  const images = metrics.reconcile();
  const schedules = metrics.reconcile('serverimageschedule');
  metrics.workQueue().added();
  metrics.workQueue('serverimageschedule').added();
  metrics.workQueue('serverimageschedule').added();
  images.reconciled('success', 0.1);
  schedules.reconciled('requeue_after', 0.2);
  schedules.errored();
  const text = await metrics.registry.metrics();
  const value = (series: string) =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(`${series} `))
        ?.slice(series.length + 1),
    );
  expect(value('controller_runtime_reconcile_total{controller="serverimage",result="success"}')).toBe(1);
  expect(value('controller_runtime_reconcile_total{controller="serverimageschedule",result="success"}')).toBe(
    0,
  );
  expect(
    value('controller_runtime_reconcile_total{controller="serverimageschedule",result="requeue_after"}'),
  ).toBe(1);
  expect(value('controller_runtime_reconcile_errors_total{controller="serverimageschedule"}')).toBe(1);
  expect(value('controller_runtime_reconcile_errors_total{controller="serverimage"}')).toBe(0);
  expect(value('workqueue_adds_total{name="serverimage",controller="serverimage"}')).toBe(1);
  expect(value('workqueue_adds_total{name="serverimageschedule",controller="serverimageschedule"}')).toBe(2);
});

test('readiness is read at each scrape; leadership follows the Lease', async () => {
  const metrics = new OperatorMetrics();
  let ready = false;
  metrics.countReadiness(() => ready);
  const leading = metrics.leadership('serverimage-operator');
  const value = async (series: string) =>
    Number(
      (await metrics.registry.metrics())
        .split('\n')
        .find((l) => l.startsWith(`${series} `))
        ?.slice(series.length + 1),
    );
  expect(await value('serverimage_operator_ready')).toBe(0);
  expect(await value('leader_election_master_status{name="serverimage-operator"}')).toBe(0);
  ready = true;
  leading(true);
  expect(await value('serverimage_operator_ready')).toBe(1);
  expect(await value('leader_election_master_status{name="serverimage-operator"}')).toBe(1);
  leading(false);
  expect(await value('leader_election_master_status{name="serverimage-operator"}')).toBe(0);
});

test("the last verified time is each VM's newest Verified image, read at each scrape; no series before one", async () => {
  const metrics = new OperatorMetrics();
  let verified: Array<{ namespace: string; vm: string; time: Date }> = [];
  metrics.countLastVerified(() => verified);
  expect(await metrics.registry.metrics()).not.toMatch(/^serverimage_last_verified_timestamp_seconds\{/m);
  verified = [
    { namespace: 'a', vm: 'web', time: new Date('2027-01-01T02:00:00Z') },
    { namespace: 'a', vm: 'web', time: new Date('2027-01-02T02:00:00Z') },
    { namespace: 'b', vm: 'web', time: new Date('2027-01-01T03:00:00Z') },
  ];
  const text = await metrics.registry.metrics();
  expect(text).toContain(
    `serverimage_last_verified_timestamp_seconds{namespace="a",vm="web"} ${Date.parse('2027-01-02T02:00:00Z') / 1000}`,
  );
  expect(text).toContain(
    `serverimage_last_verified_timestamp_seconds{namespace="b",vm="web"} ${Date.parse('2027-01-01T03:00:00Z') / 1000}`,
  );
  metrics.verified('VerificationFailed');
  expect(await metrics.registry.metrics()).toMatch(
    /^serverimage_verifications_total\{result="VerificationFailed"\} 1$/m,
  );
});
