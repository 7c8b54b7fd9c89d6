import { Hono, type Context } from 'hono';
import { SSE_EVENT_TYPES, type SseEventType } from '../../../shared/models.js';
import type { Logger } from '../../base/log.js';
import type { Metrics } from '../../base/metrics.js';
import type { EventLog, RelayState, StoredEvent } from '../../store/index.js';
import type { AppEnv } from '../context.js';
import { ApiError, onError } from '../errors.js';
import { SseBody } from '../../push/sse-body.js';

export interface EventsRouteDeps {
  store: { events: Pick<EventLog, 'after' | 'oldestId' | 'latestId' | 'subscribe'>; state: Pick<RelayState, 'summary'> };
  metrics: Metrics;
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
  /** Aborting it ends every open stream cleanly and refuses new ones (503): for graceful shutdown. */
  signal?: AbortSignal;
}

export const EVENTS_DEFAULTS = {
  heartbeatMs: 20_000,
  maxLag: 1000,
  batchSize: 100,
  retryMs: 3000,
  writeTimeoutMs: 10_000,
} as const satisfies Required<Omit<EventsRouteOptions, 'signal'>>;

const SSE_TYPES: ReadonlySet<string> = new Set<string>(SSE_EVENT_TYPES);
const isSseEvent = (event: StoredEvent): event is StoredEvent & { type: SseEventType } => SSE_TYPES.has(event.type);

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

function formatEvent(id: number, type: string, data: unknown): string {
  // JSON.stringify escapes line breaks inside strings, so `data` is always one line.
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
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

const PING = Buffer.from(': ping\n\n', 'utf8');

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

/**
 * Ends the HTTP connection itself, not just the body. A client that stopped reading would
 * otherwise keep the socket, and its buffered bytes, for as long as it likes.
 */
function destroyConnection(outgoing: { destroy(): void } | undefined): void {
  try {
    outgoing?.destroy();
  } catch {
    // already gone
  }
}

interface StreamStart {
  /** The id of the last event the client has (or needs not have). */
  cursor: number;
  /** The latest id at connect: events after it are live, and count towards the lag. */
  liveFrom: number;
  /** Sent right after `retry:` (the summary for a new client), or ''. */
  greeting: string;
}

type StopReason = 'disconnected' | 'lagging' | 'write_timeout' | 'shutdown' | 'error';

/** What a client at a given event id is sent next: read from the log and formatted once, shared. */
interface Step {
  /** The messages to write, as the bytes sent to every client at this id (none when the batch held only events that are not sent). */
  chunk: Uint8Array;
  /** The id the client is at once the chunk is written. */
  end: number;
  /** The batch was full: more may follow at once. */
  full: boolean;
  /** Set when the client's id was older than the retained history: the oldest retained id. */
  resumedBefore: number | null;
}

/** How many distinct positions the shared steps remember between two commits. */
const MAX_SHARED_STEPS = 32;

/**
 * `GET /events` — server-sent events (mounted under /api/v1, behind the API-key check).
 *
 * The store's event log is the queue: a connection keeps only the id of the last event it has
 * passed, wakes up when the store announces a commit (and at every heartbeat, as a fallback),
 * and reads `events.after(lastId, batchSize)`. Nothing is buffered per client.
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
 * A client more than `maxLag` live events behind, or one that leaves a write untaken for
 * `writeTimeoutMs` (it is not reading), is disconnected; it reconnects after `retry` and resumes
 * from the log with Last-Event-ID. Every error is caught here and logged: the client never sees
 * an internal message.
 *
 * The response body is an SseBody (./sse-body.ts) rather than Hono's streamSSE: per client one
 * small stream, fed the bytes of a step that every client at the same id shares; the headers
 * (the middleware's, then SSE_HEADERS) go into the response as it is made.
 */
export function eventsRoutes(deps: EventsRouteDeps & EventsRouteOptions): Hono<AppEnv> {
  const { store, metrics } = deps;
  const logger = deps.logger.child({ component: 'sse' });
  const heartbeatMs = intOption(deps.heartbeatMs, EVENTS_DEFAULTS.heartbeatMs, 10, 3_600_000);
  const maxLag = intOption(deps.maxLag, EVENTS_DEFAULTS.maxLag, 1, Number.MAX_SAFE_INTEGER);
  const batchSize = intOption(deps.batchSize, EVENTS_DEFAULTS.batchSize, 1, 10_000);
  const retryMs = intOption(deps.retryMs, EVENTS_DEFAULTS.retryMs, 0, 3_600_000);
  const writeTimeoutMs = intOption(deps.writeTimeoutMs, EVENTS_DEFAULTS.writeTimeoutMs, 1, 3_600_000);
  const shutdown = deps.signal;

  /**
   * Steps by the id they start from. After a commit every live client is at the same id and wakes
   * for the same events: reading the log, parsing and formatting them once per commit rather than
   * once per client is what keeps a fan-out to a thousand clients fast (a profile showed the
   * per-client reads as half of its time). Every client's listener empties it when an event
   * commits, before any stream can read again, and it is emptied when the last stream ends (no
   * listener hears commits then), so a step never misses a newer event. Pruning needs no care:
   * a step only holds events that were committed.
   */
  let steps = new Map<number, Step | null>();
  let listening = 0;
  const forgetSteps = (): void => {
    if (steps.size > 0) steps = new Map();
  };

  function stepAfter(lastId: number): Step | null {
    const known = steps.get(lastId);
    if (known !== undefined) return known;
    const step = readStep(lastId);
    if (steps.size < MAX_SHARED_STEPS) steps.set(lastId, step);
    return step;
  }

  /** null: nothing after lastId yet. */
  function readStep(lastId: number): Step | null {
    const batch = store.events.after(lastId, batchSize);
    const first = batch[0];
    if (first === undefined) return null;

    let chunk = '';
    let resumedBefore: number | null = null;
    if (first.id > lastId + 1) {
      // Ids only grow and have no holes except where events were pruned: check for a gap.
      const oldest = store.events.oldestId();
      if (oldest !== null && oldest > lastId + 1) {
        chunk += formatEvent(first.id - 1, 'summary', store.state.summary());
        resumedBefore = oldest;
      }
    }
    for (const event of batch) {
      if (isSseEvent(event)) chunk += formatEvent(event.id, event.type, event.data);
    }
    return {
      chunk: Buffer.from(chunk, 'utf8'),
      end: batch[batch.length - 1]?.id ?? lastId,
      full: batch.length === batchSize,
      resumedBefore,
    };
  }

  const app = new Hono<AppEnv>();
  // The app's own error answers, also where the route is mounted on its own.
  app.onError(onError);

  app.get('/events', (c) => {
    const parsed = parseLastEventId(c.req.header('last-event-id'), c.req.query('lastEventId'));
    if (!parsed.ok) {
      throw new ApiError(
        400,
        'bad_last_event_id',
        'Last-Event-ID (header or ?lastEventId=) must be the id of an event this relay sent: a non-negative integer.',
      );
    }
    if (shutdown?.aborted) throw new ApiError(503, 'shutting_down', 'The relay is shutting down; reconnect shortly.');

    // Where to start, read before the response starts so a broken store is a clean 503.
    let start: StreamStart;
    try {
      const latest = store.events.latestId();
      if (parsed.id === undefined || parsed.id > latest) {
        // The summary is read after `latest`: what commits in between is sent again, never lost.
        start = { cursor: latest, liveFrom: latest, greeting: formatEvent(latest, 'summary', store.state.summary()) };
      } else {
        // A Last-Event-ID older than the retained history is noticed (and answered) by the loop.
        start = { cursor: parsed.id, liveFrom: latest, greeting: '' };
      }
    } catch (error) {
      logger.error({ err: error }, 'cannot start an event stream');
      throw new ApiError(503, 'unavailable', 'Live events are unavailable right now; retry shortly.');
    }

    return c.newResponse(open(nodeResponse(c), start), 200, SSE_HEADERS);
  });

  /**
   * The heartbeat: one timer for every open stream (a timer per client was a thousand timers),
   * running while there is at least one. Each stream registers its `ping`.
   */
  const pings = new Set<() => void>();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  function addPing(ping: () => void): void {
    pings.add(ping);
    heartbeat ??= setInterval(() => {
      for (const each of pings) each();
    }, heartbeatMs);
  }
  function removePing(ping: () => void): void {
    pings.delete(ping);
    if (pings.size === 0 && heartbeat !== undefined) {
      clearInterval(heartbeat);
      heartbeat = undefined;
    }
  }

  /** Starts serving one client; returns the body of its response. */
  function open(outgoing: { destroy(): void } | undefined, start: StreamStart): ReadableStream<Uint8Array> {
    let lastId = start.cursor;
    let stopReason: StopReason | undefined;
    let dirty = true;
    let pingDue = false;
    let wake: (() => void) | undefined;
    let resolveStopped!: () => void;
    const stopped = new Promise<void>((resolve) => {
      resolveStopped = resolve;
    });

    const stop = (reason: StopReason): void => {
      if (stopReason !== undefined) return;
      stopReason = reason;
      resolveStopped();
      wake?.();
    };
    const poke = (): void => {
      dirty = true;
      wake?.();
    };
    const ping = (): void => {
      pingDue = true;
      poke();
    };
    const onShutdown = (): void => stop('shutdown');
    const body = new SseBody(() => stop('disconnected'));

    /** Writes one chunk; false when the stream should end (timeout, disconnect, shutdown). */
    const send = async (chunk: Uint8Array): Promise<boolean> => {
      if (stopReason !== undefined) return false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), writeTimeoutMs);
      });
      try {
        const outcome = await Promise.race([body.write(chunk).then(() => 'written' as const), timeout, stopped]);
        if (outcome === 'timeout') stop('write_timeout');
      } finally {
        clearTimeout(timer);
      }
      return stopReason === undefined;
    };

    const run = async (): Promise<void> => {
      metrics.sseClients += 1;
      let unsubscribe: (() => void) | undefined;
      try {
        shutdown?.addEventListener('abort', onShutdown);
        if (shutdown?.aborted) stop('shutdown');

        unsubscribe = store.events.subscribe((event) => {
          forgetSteps();
          // Events appended before the client connected (a replay) do not count as lag.
          if (event.id - Math.max(lastId, start.liveFrom) > maxLag) stop('lagging');
          else poke();
        });
        listening += 1;
        addPing(ping);

        if (!(await send(Buffer.from(`retry: ${retryMs}\n\n${start.greeting}`, 'utf8')))) return;

        while (stopReason === undefined) {
          if (!dirty) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
            continue;
          }
          dirty = false;

          if (pingDue) {
            pingDue = false;
            if (!(await send(PING))) break;
          }

          const step = stepAfter(lastId);
          if (step === null) continue;
          if (step.resumedBefore !== null) {
            logger.debug({ lastEventId: lastId, oldest: step.resumedBefore }, 'client resumes from before the retained history');
          }
          if (step.chunk.byteLength > 0 && !(await send(step.chunk))) break;
          lastId = step.end;
          if (step.full) dirty = true;
        }
      } catch (error) {
        logger.error({ err: error }, 'event stream failed');
        stop('error');
      } finally {
        removePing(ping);
        if (unsubscribe !== undefined) {
          unsubscribe();
          listening -= 1;
          if (listening === 0) forgetSteps();
        }
        shutdown?.removeEventListener('abort', onShutdown);
        metrics.sseClients -= 1;
        const reason = stopReason ?? 'error';
        if (reason === 'lagging' || reason === 'write_timeout' || reason === 'error') {
          // The client is not keeping up (or something broke): drop the connection, buffered bytes
          // and all. An incomplete message is never dispatched by EventSource, so it resumes
          // with the id of the last complete one.
          destroyConnection(outgoing);
          logger.warn({ reason, lastEventId: lastId }, 'event stream dropped');
        } else {
          // Shutdown: the response ends once what was taken is written. Disconnected: already gone.
          body.close();
          logger.debug({ reason, lastEventId: lastId }, 'event stream ended');
        }
      }
    };
    void run();
    return body.readable;
  }

  return app;
}
