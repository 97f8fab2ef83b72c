// The Grafana dashboard's queries, checked without a cluster: each parses as PromQL and
// reads only series the operator registers (the bed's running operator is checked too, in
// serverimage-observability.test.ts). And the PromQL helper itself, so a check that finds
// no names cannot pass by finding nothing.
import { Registry } from 'prom-client';
import { registerScheduleMetrics } from '../../../src/controllers/serverimageschedule/metrics.js';
import { OperatorMetrics } from '../../../src/metrics.js';
import { dashboardQueries } from '../../harness/chart-queries.js';
import { exposedNames, metricNames, withoutGrafanaVariables } from '../../harness/promql.js';

test('metricNames finds selectors only: not functions, labels, keywords or grouping lists', () => {
  expect(
    metricNames(
      'histogram_quantile(0.9, sum by (le, namespace) (rate(a_bucket{job=~"x"}[5m]))) / on (namespace) group_left max(b) or absent(c{namespace="n"}) + time() - {__name__="d"}',
    ).sort(),
  ).toEqual(['a_bucket', 'b', 'c', 'd']);
  expect(() => metricNames('sum(rate(a[5m])')).toThrow(/syntax error/);
  expect(withoutGrafanaVariables('rate(a{job=~"$job"}[$__rate_interval])')).toBe('rate(a{job=~"x"}[5m])');
});

test('every dashboard query parses and reads only series the operator registers', async () => {
  const metrics = new OperatorMetrics();
  metrics.countImages(() => []);
  metrics.countLastVerified(() => []);
  metrics.workQueue();
  metrics.reconcile();
  metrics.countReadiness(() => true);
  metrics.leadership('lease');
  const empty = { list: () => [], get: () => undefined, getByKey: () => undefined };
  registerScheduleMetrics(metrics.registry as Registry, empty, empty);
  const registered = exposedNames(await metrics.registry.metrics());

  const queries = dashboardQueries();
  expect(queries.length).toBeGreaterThan(20);
  const unknown: string[] = [];
  for (const { where, expr } of queries) {
    const names = metricNames(withoutGrafanaVariables(expr));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) if (!registered.has(name)) unknown.push(`${where}: ${name}`);
  }
  expect(unknown).toEqual([]);
});
