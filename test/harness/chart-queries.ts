// The PromQL the chart ships: every query of the Grafana dashboard (panels and the
// variables' label_values selectors) and every expression of the rendered PrometheusRule.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHART_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../charts/serverimage-operator',
);

export interface Query {
  where: string;
  expr: string;
}

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

/** Every query of the dashboard, with the panel it belongs to. */
export function dashboardQueries(): Query[] {
  const dashboard = JSON.parse(readFileSync(path.join(CHART_DIR, 'dashboards/serverimage.json'), 'utf8')) as {
    panels: Panel[];
    templating: { list: { name: string; definition?: string }[] };
  };
  const queries: Query[] = [];
  const visit = (panel: Panel) => {
    for (const t of panel.targets ?? []) queries.push({ where: panel.title, expr: t.expr });
    panel.panels?.forEach(visit);
  };
  dashboard.panels.forEach(visit);
  for (const variable of dashboard.templating.list) {
    // label_values(selector, label): the selector is PromQL.
    const selector = /^label_values\((.+),\s*\w+\)$/.exec(variable.definition ?? '')?.[1];
    if (selector) queries.push({ where: `variable ${variable.name}`, expr: selector });
  }
  return queries;
}

/** The alerts' expressions of a rendered PrometheusRule. */
export function ruleQueries(rule: {
  spec: { groups: { rules: { alert: string; expr: string }[] }[] };
}): Query[] {
  return rule.spec.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })));
}
