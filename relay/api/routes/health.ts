import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { STORAGE_PROBLEM_TEXT, type Store, type StoreHealth } from '../../store/index.js';
import { requestLogger, type AppEnv } from '../context.js';
import { validationHook } from '../errors.js';
import { errorResponses, NO_SECURITY } from '../openapi.js';
import { HealthDoc } from '../schemas.js';

const healthz = createRoute({
  operationId: 'getHealth',
  method: 'get',
  path: '/healthz',
  tags: ['operations'],
  summary: 'Liveness and database check (no API key)',
  description:
    'Whether the database can be read and written: a read, and a write that is rolled back (committed while a storage failure is remembered). 503 with a `reason` when it cannot: closed, unreadable, or unable to write (disk full, read-only file, I/O errors).',
  security: NO_SECURITY,
  responses: {
    200: { description: 'The database answers and can write.', content: { 'application/json': { schema: HealthDoc } } },
    // Its own 503 (the Health body, with the reason) in place of the Error body of other routes.
    503: { description: 'The database is not usable; `reason` says why.', content: { 'application/json': { schema: HealthDoc } } },
    ...errorResponses(),
  },
});

/** What /healthz says about a store that is not usable. */
function reasonOf(problem: Exclude<StoreHealth, { ok: true }>['problem']): string {
  switch (problem) {
    case 'closed':
      return 'the database is closed';
    case 'unreadable':
      return 'the database cannot be read';
    case 'unwritable':
      return 'the store cannot write to the database';
    default:
      return `the store cannot write: ${STORAGE_PROBLEM_TEXT[problem]}`;
  }
}

/**
 * `GET /healthz`: 200 `{"status":"ok"}`, or 503 `{"status":"unavailable","reason":…}` when the
 * store cannot answer or cannot write (see store/health.ts).
 */
export function healthRoutes(deps: { store: Pick<Store, 'health'> }): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(healthz, (c) => {
    let health: StoreHealth;
    try {
      health = deps.store.health.check();
    } catch (err) {
      requestLogger(c)?.warn({ err }, 'health check failed');
      health = { ok: false, problem: 'unreadable' };
    }
    c.header('Cache-Control', 'no-store');
    if (health.ok) return c.json({ status: 'ok' as const }, 200);
    return c.json({ status: 'unavailable' as const, reason: reasonOf(health.problem) }, 503);
  });
  return app;
}
