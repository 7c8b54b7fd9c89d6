import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Metrics, StoreCounts } from '../../base/metrics.js';
import type { AppEnv } from '../context.js';
import { errorResponses, NO_SECURITY } from '../openapi.js';
import { validationHook } from '../errors.js';

const getMetrics = createRoute({
  operationId: 'getMetrics',
  method: 'get',
  path: '/metrics',
  tags: ['operations'],
  summary: 'Prometheus metrics (no API key)',
  description:
    "Counts and latencies only: polls, poll errors by kind, reply attempts by outcome, replies by state, requests by group, webhook attempts by outcome and deliveries by state, SSE clients, Concur call and API request latency histograms, and the process's memory, CPU, event-loop lag and GC. No ids, names, tokens or keys.",
  security: NO_SECURITY,
  responses: {
    200: { description: 'Prometheus text format 0.0.4.', content: { 'text/plain': { schema: z.string() } } },
    ...errorResponses(500, 503),
  },
});

/**
 * `GET /metrics`, open like /healthz: scrapers rarely send a Bearer key, the relay listens on
 * loopback by default, and the text holds aggregate counts only (Metrics.render reads nothing but
 * counts from the store), so there is no secret and no personal data to guard.
 */
export function metricsRoutes(deps: {
  store: StoreCounts;
  metrics: Pick<Metrics, 'render' | 'registry'>;
}): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(getMetrics, async (c) =>
    c.text(await deps.metrics.render(deps.store), 200, {
      'Content-Type': deps.metrics.registry.contentType,
      'Cache-Control': 'no-store',
    }),
  );
  return app;
}
