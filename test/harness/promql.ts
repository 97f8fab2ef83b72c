// The metric names a PromQL expression reads, found by Prometheus' own grammar
// (@prometheus-io/lezer-promql, what its web UI parses with): the Identifier of each vector
// selector, so function names, label names, keywords and `by (...)` lists never count. And
// the names a /metrics page declares (a histogram's _bucket/_sum/_count too) or has samples of.
import { parser } from '@prometheus-io/lezer-promql';

/** Grafana's variables replaced by what Prometheus would see, so the query parses. */
export function withoutGrafanaVariables(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m').replace(/\$\{?\w+\}?/g, 'x');
}

/** The metric names `expr` selects; throws on a syntax error, naming where. */
export function metricNames(expr: string): string[] {
  const tree = parser.parse(expr);
  const names = new Set<string>();
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) {
      throw new Error(
        `PromQL syntax error at ${cursor.from}: ${expr.slice(cursor.from, cursor.from + 40)} in ${expr}`,
      );
    }
    if (cursor.name === 'VectorSelector') {
      const selector = cursor.node;
      const identifier = selector.getChild('Identifier');
      if (identifier) names.add(expr.slice(identifier.from, identifier.to));
      // {__name__="x"}: the name as a matcher.
      for (const matcher of selector.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
        const text = expr.slice(matcher.from, matcher.to);
        const byName = /^__name__\s*=\s*"([^"]+)"$/.exec(text);
        if (byName) names.add(byName[1]!);
      }
    }
  } while (cursor.next());
  return [...names];
}

/** The names of the series that have at least one sample on a Prometheus text page. */
export function sampledNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (match) names.add(match[1]!);
  }
  return names;
}

/** Every series name a Prometheus text page declares, from its # TYPE lines, sampled or not. */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^# TYPE (\S+) (\w+)/.exec(line);
    if (!match) continue;
    const [, name, type] = match as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}
