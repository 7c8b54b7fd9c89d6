import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Metrics } from '../../base/metrics.js';
import type { AppEnv } from '../context.js';
import { errorResponses } from '../openapi.js';
import { validationHook } from '../errors.js';

/** Prometheus text exposition format 0.0.4. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const getMetrics = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['operations'],
  summary: 'Prometheus metrics (no API key)',
  description:
    'Counts only: polls, poll errors by kind, reply attempts by outcome, replies by state, requests by group, webhook attempts by outcome and deliveries by state, SSE clients. No ids, names, tokens or keys.',
  security: [],
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
  store: Parameters<Metrics['render']>[0];
  metrics: Pick<Metrics, 'render'>;
}): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(getMetrics, (c) =>
    c.text(deps.metrics.render(deps.store), 200, {
      'Content-Type': METRICS_CONTENT_TYPE,
      'Cache-Control': 'no-store',
    }),
  );
  return app;
}
