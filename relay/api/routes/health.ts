import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Store } from '../../store/index.js';
import { requestLogger, type AppEnv } from '../context.js';
import { validationHook } from '../errors.js';
import { HealthDoc } from '../schemas.js';

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['operations'],
  summary: 'Liveness and database check (no API key)',
  security: [],
  responses: {
    200: { description: 'The database answers.', content: { 'application/json': { schema: HealthDoc } } },
    503: { description: 'The database is not usable.', content: { 'application/json': { schema: HealthDoc } } },
  },
});

/** `GET /healthz`: 200 `{"status":"ok"}`, or 503 `{"status":"unavailable"}` when the store cannot answer. */
export function healthRoutes(deps: { store: Pick<Store, 'healthy'> }): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(healthz, (c) => {
    let healthy: boolean;
    try {
      healthy = deps.store.healthy();
    } catch (err) {
      requestLogger(c)?.warn({ err }, 'health check failed');
      healthy = false;
    }
    c.header('Cache-Control', 'no-store');
    return healthy ? c.json({ status: 'ok' as const }, 200) : c.json({ status: 'unavailable' as const }, 503);
  });
  return app;
}
