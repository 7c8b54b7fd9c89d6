import type { Metrics } from '../../relay/base/metrics.js';

/**
 * One sample of a relay metric as a scrape would read it: the value of `name` with exactly
 * `labels`, or 0 when there is no such sample yet (a counter never incremented).
 */
export async function metricValue(metrics: Pick<Metrics, 'registry'>, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric named ${name}`);
  const { values } = await metric.get();
  const wanted = Object.entries(labels);
  const sample = values.find(
    (v) => Object.keys(v.labels).length === wanted.length && wanted.every(([key, value]) => v.labels[key] === value),
  );
  return sample?.value ?? 0;
}
