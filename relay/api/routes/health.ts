import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { STORAGE_PROBLEM_TEXT, type StoreHealth, type StoreParts } from '../../store/index.js';
import { requestLogger, type AppEnv } from '../context.js';
import { validationHook } from '../errors.js';
import { errorResponses, NO_SECURITY } from '../openapi.js';
import { HealthDoc } from '../schemas.js';
import type { Vault } from '../../vault/vault.js';

const healthz = createRoute({
  operationId: 'getHealth',
  method: 'get',
  path: '/healthz',
  tags: ['operations'],
  summary: 'Liveness, database check, and whether this relay polls (no API key)',
  description:
    'Whether the database can be read and written: a read, and a write that is rolled back (committed while a storage failure is remembered). 503 with a `reason` when it cannot: closed, unreadable, or unable to write (disk full, read-only file, I/O errors); also when the vault was rotated to a key this relay was not given, so that it must seal no more secrets. `poller` says whether this relay is the one polling Concur: of several relays on one database one polls at a time; a relay on SQLite always does.',
  security: NO_SECURITY,
  responses: {
    200: { description: 'The database answers and can write.', content: { 'application/json': { schema: HealthDoc } } },
    // Its own 503 (the Health body, with the reason) in place of the Error body of other routes.
    503: { description: 'The database is not usable, or this relay must not seal with its vault key any more; `reason` says why.', content: { 'application/json': { schema: HealthDoc } } },
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
 * Whether this relay is the one polling Concur. A relay on SQLite is alone on its database file,
 * so it always is; where several relays share a database, the holder of the poller's lock is.
 */
export interface PollerRole {
  isPolling(): boolean;
}

/** The role of a relay that is alone on its database. */
export const ALWAYS_POLLING: PollerRole = { isPolling: () => true };

/**
 * `GET /healthz`: 200 `{"status":"ok","poller":…}`, or 503 `{"status":"unavailable","poller":…,"reason":…}`
 * when the store cannot answer or cannot write (see store/health.ts).
 */
export function healthRoutes(deps: { store: Pick<StoreParts, 'health'>; poller: PollerRole; vault?: Pick<Vault, 'fenced'> }): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(healthz, async (c) => {
    let health: StoreHealth;
    try {
      health = await deps.store.health.check();
    } catch (err) {
      requestLogger(c)?.warn({ err }, 'health check failed');
      health = { ok: false, problem: 'unreadable' };
    }
    const poller = deps.poller.isPolling();
    c.header('Cache-Control', 'no-store');
    // The database answers, but this relay must not seal with its key any more (boot/vault-watch.ts).
    const fenced = deps.vault?.fenced ?? null;
    if (health.ok && fenced !== null) return c.json({ status: 'unavailable' as const, poller, reason: fenced }, 503);
    if (health.ok) return c.json({ status: 'ok' as const, poller }, 200);
    return c.json({ status: 'unavailable' as const, poller, reason: reasonOf(health.problem) }, 503);
  });
  return app;
}
