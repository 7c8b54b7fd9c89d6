import { OpenAPIHono } from '@hono/zod-openapi';
import { requestId } from 'hono/request-id';
import type { Logger } from '../base/log.js';
import type { Metrics } from '../base/metrics.js';
import type { StoreParts } from '../store/index.js';
import { apiKeyAuth } from './middleware/auth.js';
import { FailedKeys } from './middleware/failed-keys.js';
import { requireUtf8Body } from './middleware/body-charset.js';
import { requestBodyLimit } from './middleware/body-limit.js';
import { REQUEST_ID_HEADER, type AppEnv } from './context.js';
import { corsMiddleware } from './middleware/cors.js';
import { notFoundHandler, onError, validationHook } from './errors.js';
import { auditRoutes } from './routes/audit.js';
import { documentRoutes } from './routes/document.js';
import { eventsRoutes } from './routes/events.js';
import { documentOf, registerDocumentExtras } from './openapi.js';
import { requestLog } from './middleware/request-log.js';
import { httpMetrics } from './middleware/http-metrics.js';
import { roleGuard } from './middleware/roles.js';
import { ALWAYS_POLLING, healthRoutes, type PollerRole } from './routes/health.js';
import { keysRoutes } from './routes/keys.js';
import { meRoutes } from './routes/me.js';
import { metricsRoutes } from './routes/metrics.js';
import { requestsRoutes } from './routes/requests.js';
import { summaryRoutes } from './routes/summary.js';
import { webhooksRoutes, type WebhooksApiDeps } from './routes/webhooks.js';
import type { Outbox } from '../replies/outbox.js';
import { createBroker, type ConnectionBroker } from '../connections/broker.js';
import { connectionsRoutes } from './routes/connections.js';
import type { Vault } from '../vault/vault.js';

export type { AppEnv } from './context.js';

/** The prefix of every route that needs the API key. */
const API_PREFIX = '/api/v1';

/** Options of the events route (heartbeat, abort signal for shutdown, …), passed through as they are. */
export type EventsOptions = Omit<Parameters<typeof eventsRoutes>[0], 'store' | 'metrics' | 'logger'>;

export interface AppDeps {
  store: StoreParts;
  /** Whether this relay is the one polling Concur, for /healthz. Default: always (a relay alone on its database). */
  poller?: PollerRole;
  /** The relay's vault, for /healthz: one that stopped sealing (boot/vault-watch.ts) makes the relay unavailable. */
  vault?: Pick<Vault, 'fenced'>;
  /** Allowed browser origin patterns (RELAY_CORS_ORIGINS), matched with isOriginAllowed. */
  corsOrigins: readonly string[];
  /** Wakes the outbox worker after a new reply is stored. */
  outbox: Pick<Outbox, 'kick'>;
  metrics: Metrics;
  logger: Logger;
  /**
   * Epoch ms: the relay's clock where the API keeps time (requests timed for the log, the window
   * of failed keys, which revocations the event streams have seen). Defaults to Date.now.
   */
  now?: () => number;
  /** Passed to the events route as they are. */
  events?: EventsOptions;
  /** The webhook routes: the private-address setting and the delivery worker's wake-up. Default: private refused, no worker to wake. */
  webhooks?: WebhooksApiDeps;
  /**
   * Token reads and revocations of connections (relay/connections/broker.ts). Default: one without
   * the partner's credentials (no refresh, revocations only in the relay).
   */
  connections?: ConnectionBroker;
}

/**
 * The relay's HTTP app (README.md, "The JSON API (v1)"). Serve it with @hono/node-server:
 * `serve({ fetch: createApp(deps).fetch, hostname, port })`.
 *
 * Open (no key): `GET /healthz`, `GET /metrics`, `GET /openapi.json`.
 * Behind `Authorization: Bearer <api key>`: everything under /api/v1 (summary, requests, reply,
 * events, webhooks, keys, audit, connections), each route for the roles its declaration names. Middleware, in
 * order: request id → request log → latency metrics → response headers (nosniff, no-store under
 * /api/v1) → CORS → API key (/api/v1) → role (/api/v1) → body limit (64 KiB) → body charset
 * (UTF-8 only) → route (zod validation). Anything thrown anywhere → ./errors.ts; unknown route → 404, wrong method → 405.
 */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const { store, metrics, logger } = deps;
  const now = deps.now ?? Date.now;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use('*', requestId({ headerName: REQUEST_ID_HEADER, limitLength: 100 }));
  app.use('*', requestLog(logger, now));
  app.use('*', httpMetrics(metrics));
  app.use('*', async (c, next) => {
    // Set before the route answers, so they go into its response as it is made: a header set on
    // a finished response makes Hono copy it (on @hono/node-server: build a full web Response and
    // stream its body), which a profile showed as the largest cost of a cached list answer.
    c.header('X-Content-Type-Options', 'nosniff');
    // Answers about travellers (and refusals) are never cached by a browser or a proxy; a route
    // that sets its own Cache-Control (SSE) replaces this.
    if (c.req.path.startsWith(`${API_PREFIX}/`)) c.header('Cache-Control', 'no-store');
    await next();
  });
  app.use('*', corsMiddleware(deps.corsOrigins));
  app.use(`${API_PREFIX}/*`, apiKeyAuth(store.keys, { failedKeys: new FailedKeys({ now }), metrics }));
  app.use(`${API_PREFIX}/*`, roleGuard(() => app.openAPIRegistry.definitions));
  app.use('*', requestBodyLimit());
  app.use('*', requireUtf8Body());

  // ---- open routes ----
  app.route('/', healthRoutes({ store, poller: deps.poller ?? ALWAYS_POLLING, vault: deps.vault }));
  app.route('/', metricsRoutes({ store, metrics }));

  // ---- /api/v1, behind the key ----
  app.route(API_PREFIX, meRoutes());
  app.route(API_PREFIX, summaryRoutes({ store }));
  app.route(API_PREFIX, requestsRoutes({ store, outbox: deps.outbox }));
  app.route(API_PREFIX, eventsRoutes({ store, metrics, logger, now, ...deps.events }));
  app.route(API_PREFIX, keysRoutes({ store }));
  app.route(API_PREFIX, auditRoutes({ store }));
  const broker = deps.connections ?? createBroker({ store, refresher: null, concur: null, logger, now });
  app.route(API_PREFIX, connectionsRoutes({ store, broker }));
  app.route(API_PREFIX, webhooksRoutes({ store, webhooks: deps.webhooks ?? { allowPrivate: false, kick: () => undefined } }));

  // ---- the document of all the above ----
  registerDocumentExtras(app);
  app.route('/', documentRoutes(documentOf(app)));

  app.onError(onError);
  app.notFound(notFoundHandler(() => app.routes));
  return app;
}
