import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { SSE_EVENT_TYPES } from '../../../shared/models.js';
import { type ApiKey } from '../../../shared/people.js';
import type { Logger } from '../../base/log.js';
import type { Metrics } from '../../base/metrics.js';
import { createSseFanOut, type SseFanOutDeps, type StreamStart } from '../../push/sse-fanout.js';
import type { AppEnv } from '../context.js';
import { ApiError, onError } from '../errors.js';
import { behindKey, errorResponses } from '../openapi.js';

export interface EventsRouteDeps {
  store: SseFanOutDeps['store'];
  metrics: Pick<Metrics, 'sseClients'>;
  logger: Logger;
}

/** Tuning of `GET /events`; every field has a default fit for production. */
export interface EventsRouteOptions {
  /** A `: ping` comment this often, to keep idle connections open through proxies (60 s idle timeouts). Default 20 000. */
  heartbeatMs?: number;
  /**
   * How many live events (appended after the client connected) a client may be behind before its
   * stream is ended; it reconnects with Last-Event-ID and resumes from the log. Default 1000.
   */
  maxLag?: number;
  /** Events read from the log per query (and written per chunk). Default 100. */
  batchSize?: number;
  /** The `retry:` (reconnect delay, ms) sent on connect. Default 3000. */
  retryMs?: number;
  /** A write the client does not take within this time (it is not reading) ends its stream. Default 10 000. */
  writeTimeoutMs?: number;
  /**
   * While a stream is open, keys revoked by another process (the `keys revoke` command line) are
   * looked for this often, and their streams ended. Default 1000.
   */
  revocationCheckMs?: number;
  /** Epoch ms: the clock the store stamps revocations with. Default Date.now. */
  now?: () => number;
  /** Aborting it ends every open stream cleanly and refuses new ones (503): for graceful shutdown. */
  signal?: AbortSignal;
}

const EVENTS_DEFAULTS = {
  heartbeatMs: 20_000,
  maxLag: 1000,
  batchSize: 100,
  retryMs: 3000,
  writeTimeoutMs: 10_000,
  revocationCheckMs: 1000,
} as const satisfies Required<Omit<EventsRouteOptions, 'signal' | 'now'>>;

/** A non-negative integer event id, at most 16 digits (safe integers only). */
const EVENT_ID = /^\d{1,16}$/;

type ParsedLastEventId = { ok: true; id: number | undefined } | { ok: false };

/**
 * The header wins over `?lastEventId=`; an empty value counts as absent (EventSource never sends
 * one). Only the header is trimmed, as HTTP strips the whitespace around a header value anyway;
 * the query parameter, like every query integer, is plain digits or refused.
 */
function parseLastEventId(header: string | undefined, query: string | undefined): ParsedLastEventId {
  const headerValue = header?.trim();
  const raw = headerValue !== undefined && headerValue !== '' ? headerValue : query;
  if (raw === undefined || raw === '') return { ok: true, id: undefined };
  if (!EVENT_ID.test(raw)) return { ok: false };
  const id = Number(raw);
  return Number.isSafeInteger(id) ? { ok: true, id } : { ok: false };
}

function intOption(value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.trunc(value)));
}

/** What a stream's response carries besides the middleware's headers. */
const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  // no-store, not the usual no-cache: the stream carries travellers' names and is never to be kept
  // (which also lets clients ask for it in the default cache mode, where CORS preflights are cached).
  'Cache-Control': 'no-store, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
  // Said outright, so that @hono/node-server sends the headers at once rather than waiting for
  // the first chunks to size the body.
  'Transfer-Encoding': 'chunked',
} as const;

/**
 * The Node response under the request on @hono/node-server, whose bindings carry it as
 * `outgoing`, as far as ending the connection goes; undefined elsewhere.
 */
function nodeResponse(c: Context): { destroy(): void } | undefined {
  const env: unknown = c.env;
  if (typeof env !== 'object' || env === null || !('outgoing' in env)) return undefined;
  const outgoing: unknown = env.outgoing;
  return typeof outgoing === 'object' && outgoing !== null && 'destroy' in outgoing && typeof outgoing.destroy === 'function'
    ? (outgoing as { destroy(): void })
    : undefined;
}

/** The document of `GET /events`: a plain Hono route (its body is a stream, not a zod model). */
const EVENTS_OPERATION = createRoute({
  operationId: 'streamEvents',
  method: 'get',
  path: '/events',
  tags: ['events'],
  summary: 'Live events (server-sent events)',
  ...behindKey(
    'read',
    `A text/event-stream of ${SSE_EVENT_TYPES.join(', ')} events; \`data\` is JSON in the shared models. Event ids increase and are stored: reconnect with the Last-Event-ID header (or ?lastEventId= when headers cannot be set) to get what was missed. A comment heartbeat keeps idle connections open. The stream ends when its API key is revoked.`,
  ),
  request: {
    query: z.object({
      lastEventId: z.string().optional().openapi({ description: 'For clients that cannot set Last-Event-ID.' }),
    }),
    headers: z.object({
      'Last-Event-ID': z.string().optional().openapi({ description: 'The id of the last event received.' }),
    }),
  },
  responses: {
    200: { description: 'The event stream.', content: { 'text/event-stream': { schema: z.string() } } },
    ...errorResponses(400, 401, 503),
  },
});

/**
 * `GET /events` — server-sent events (mounted under /api/v1, behind the API-key check); the
 * fan-out behind it is relay/push/sse-fanout.ts.
 *
 * Where a stream starts:
 * - no Last-Event-ID (header, else `?lastEventId=`): one `summary` event with the current state
 *   and `id` = the latest event id, then everything from now on;
 * - Last-Event-ID n within the retained history: every event after n, then live;
 * - n older than the retained history (events after it were pruned), like Mercure: first a
 *   `summary` event with the current state and `id` = oldest retained − 1, then everything from the
 *   oldest retained event on. The client learns it missed something and has the state at once;
 * - n beyond the latest id (a log from another database, or one that was reset): treated as no
 *   Last-Event-ID;
 * - anything that is not a non-negative integer: 400 `bad_last_event_id`.
 *
 * Only request.created, request.updated, reply.updated and summary go out; stored
 * concur.state_changed rows (for webhooks) are skipped, though the cursor moves past them. Each
 * message is `id:`, `event:`, `data:` (one line of JSON). The stored data is written as it is: the
 * store builds it from the shared models (no request token), and the tests check every event
 * against `SseEventData`; it is not validated again per message.
 *
 * The headers (the middleware's, then SSE_HEADERS) go into the response as it is made.
 */
export function eventsRoutes(deps: EventsRouteDeps & EventsRouteOptions): OpenAPIHono<AppEnv> {
  const logger = deps.logger.child({ component: 'sse' });
  const fanOut = createSseFanOut({
    store: deps.store,
    metrics: deps.metrics,
    logger,
    heartbeatMs: intOption(deps.heartbeatMs, EVENTS_DEFAULTS.heartbeatMs, 10, 3_600_000),
    maxLag: intOption(deps.maxLag, EVENTS_DEFAULTS.maxLag, 1, Number.MAX_SAFE_INTEGER),
    batchSize: intOption(deps.batchSize, EVENTS_DEFAULTS.batchSize, 1, 10_000),
    retryMs: intOption(deps.retryMs, EVENTS_DEFAULTS.retryMs, 0, 3_600_000),
    writeTimeoutMs: intOption(deps.writeTimeoutMs, EVENTS_DEFAULTS.writeTimeoutMs, 1, 3_600_000),
    revocationCheckMs: intOption(deps.revocationCheckMs, EVENTS_DEFAULTS.revocationCheckMs, 10, 60_000),
    now: deps.now ?? Date.now,
    signal: deps.signal,
  });

  const app = new OpenAPIHono<AppEnv>();
  // The app's own error answers, also where the route is mounted on its own.
  app.onError(onError);
  app.openAPIRegistry.registerPath(EVENTS_OPERATION);

  app.get('/events', async (c) => {
    const parsed = parseLastEventId(c.req.header('last-event-id'), c.req.query('lastEventId'));
    if (!parsed.ok) {
      throw new ApiError(
        400,
        'bad_last_event_id',
        'Last-Event-ID (header or ?lastEventId=) must be the id of an event this relay sent: a non-negative integer.',
      );
    }
    if (deps.signal?.aborted) throw new ApiError(503, 'shutting_down', 'The relay is shutting down; reconnect shortly.');
    let start: StreamStart;
    try {
      start = await fanOut.startAt(parsed.id);
    } catch (error) {
      logger.error({ err: error }, 'cannot start an event stream');
      throw new ApiError(503, 'unavailable', 'Live events are unavailable right now; retry shortly.');
    }
    // The caller is unset where the route is mounted without the key check (its own tests).
    const caller: ApiKey | undefined = c.get('caller');
    return c.newResponse(fanOut.open(nodeResponse(c), start, caller?.id), 200, SSE_HEADERS);
  });

  return app;
}
