import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Metrics } from '../../base/metrics.js';
import type { AppEnv } from '../context.js';

/**
 * Times every API request into the latency histogram, labelled by the route's pattern
 * (`/api/v1/requests/:id`, never the id itself, so the label set stays small) and the status.
 * The time is to the response head: for the event stream that is the greeting, not its life.
 */
export function httpMetrics(metrics: Pick<Metrics, 'observeApiRequest'>): MiddlewareHandler<AppEnv> {
  return async function httpMetrics(c, next) {
    const started = performance.now();
    await next();
    metrics.observeApiRequest(c.req.method, routeOf(c), c.res.status, (performance.now() - started) / 1000);
  };
}

/** The pattern of the route that answered; `unmatched` when only middleware ran (404, 405, refusals before routing). */
function routeOf(c: Parameters<typeof matchedRoutes>[0]): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!;
    if (route.method !== 'ALL') return route.path;
  }
  return 'unmatched';
}
