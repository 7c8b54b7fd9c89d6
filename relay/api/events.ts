import { Hono } from 'hono';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/index.js';

export interface EventsRouteDeps {
  store: Store;
  metrics: Metrics;
  logger: Logger;
}

/** `GET /events` (mounted under /api/v1, behind the API-key check). Being written: see the SSE work. */
export function eventsRoutes(_deps: EventsRouteDeps): Hono {
  const app = new Hono();
  app.get('/events', (c) => c.text('not yet', 501));
  return app;
}
