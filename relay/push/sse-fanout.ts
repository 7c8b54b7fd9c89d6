import { SSE_EVENT_TYPES, type SseEventType } from '../../shared/models.js';
import type { Logger } from '../base/log.js';
import type { Metrics } from '../base/metrics.js';
import type { EventLog, Keys, RelayState, StoredEvent } from '../store/index.js';
import { SseBody } from './sse-body.js';
import { createKeyStreams } from './sse-revocations.js';

/**
 * The server-sent event fan-out behind `GET /api/v1/events` (relay/api/routes/events.ts, which
 * says what a client sees).
 *
 * The store's event log is the queue: a connection keeps only the id of the last event it has
 * passed, wakes up when the store announces a commit (and at every heartbeat, as a fallback),
 * and reads `events.after(lastId, batchSize)`. Nothing is buffered per client: what a client at a
 * given id is sent next (a step) is read, encoded and shared once for every client at that id, and
 * one timer beats for every stream.
 *
 * Nothing is lost or sent twice however long a read of the store takes: a stream subscribes
 * before it first reads, every read is `after(lastId)` from the id it has passed, and a commit
 * heard during a read makes the stream read again once that read is written.
 *
 * A client more than `maxLag` live events behind, or one that leaves a write untaken for
 * `writeTimeoutMs` (it is not reading), is disconnected; it reconnects after `retry` and resumes
 * from the log with Last-Event-ID. A stream opened with an API key ends when the key is revoked
 * (./sse-revocations.ts). Every error is caught here and logged: the client never sees an
 * internal message.
 *
 * Each body is an SseBody (./sse-body.ts) rather than Hono's streamSSE: per client one small
 * stream, fed the bytes of a step that every client at the same id shares.
 */

export interface SseFanOutDeps {
  store: {
    events: Pick<EventLog, 'after' | 'oldestId' | 'latestId' | 'subscribe'>;
    state: Pick<RelayState, 'summary'>;
    keys: Pick<Keys, 'revokedSince' | 'onRevoked'>;
  };
  metrics: Pick<Metrics, 'sseClients'>;
  logger: Pick<Logger, 'debug' | 'warn' | 'error'>;
  /** A `: ping` comment this often (ms). */
  heartbeatMs: number;
  /** Live events a client may be behind before its stream is ended. */
  maxLag: number;
  /** Events read from the log per query (and written per chunk). */
  batchSize: number;
  /** The `retry:` (reconnect delay, ms) sent on connect. */
  retryMs: number;
  /** A write the client does not take within this time ends its stream. */
  writeTimeoutMs: number;
  /** How often keys revoked by another process are looked for, while a stream is open (ms). */
  revocationCheckMs: number;
  /** Epoch ms: the clock the store stamps revocations with. */
  now: () => number;
  /** Aborting it ends every open stream cleanly. */
  signal?: AbortSignal;
}

export interface SseFanOut {
  /**
   * Where a stream for a client at `lastEventId` starts (undefined: a new client, or an id beyond
   * the latest, from another database). Read before the response starts, so a broken store can
   * still be answered cleanly; rejects with what the store throws.
   */
  startAt(lastEventId: number | undefined): Promise<StreamStart>;
  /**
   * Starts serving one client; returns the body of its response. `outgoing` is the connection,
   * ended when the client is dropped; `keyId` the API key it came with, whose revocation ends it.
   */
  open(outgoing: { destroy(): void } | undefined, start: StreamStart, keyId?: string): ReadableStream<Uint8Array>;
}

const SSE_TYPES: ReadonlySet<string> = new Set<string>(SSE_EVENT_TYPES);
const isSseEvent = (event: StoredEvent): event is StoredEvent & { type: SseEventType } => SSE_TYPES.has(event.type);

function formatEvent(id: number, type: string, data: unknown): string {
  // JSON.stringify escapes line breaks inside strings, so `data` is always one line.
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}


const PING = Buffer.from(': ping\n\n', 'utf8');

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

export interface StreamStart {
  /** The id of the last event the client has (or needs not have). */
  cursor: number;
  /** The latest id at connect: events after it are live, and count towards the lag. */
  liveFrom: number;
  /** Sent right after `retry:` (the summary for a new client), or ''. */
  greeting: string;
}

type StopReason = 'disconnected' | 'lagging' | 'write_timeout' | 'shutdown' | 'revoked' | 'error';

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
 * Steps by the id they start from. After a commit every live client is at the same id and wakes
 * for the same events: reading the log, parsing and formatting them once per commit rather than
 * once per client is what keeps a fan-out to a thousand clients fast (a profile showed the
 * per-client reads as half of its time). A step is kept from the moment its read starts (clients
 * that ask meanwhile share the read). Every client's listener empties the map when an event
 * commits, before any stream can read again, and it is emptied when the last stream ends (no
 * listener hears commits then), so a step never misses a newer event: a read under way at a
 * commit finishes into the emptied map, never the new one, and every client it serves was woken
 * by that commit to read again. Pruning needs no care: a step only holds events that were committed.
 */
function createSteps(store: SseFanOutDeps['store'], batchSize: number) {
  let steps = new Map<number, Promise<Step | null>>();
  const forget = (): void => {
    if (steps.size > 0) steps = new Map();
  };

  function stepAfter(lastId: number): Promise<Step | null> {
    const known = steps.get(lastId);
    if (known !== undefined) return known;
    const step = readStep(lastId);
    if (steps.size < MAX_SHARED_STEPS) {
      const kept = steps;
      kept.set(lastId, step);
      // A read that fails is not shared: the next client to ask reads again.
      step.catch(() => {
        if (kept.get(lastId) === step) kept.delete(lastId);
      });
    }
    return step;
  }

  /** null: nothing after lastId yet. */
  async function readStep(lastId: number): Promise<Step | null> {
    const batch = await store.events.after(lastId, batchSize);
    const first = batch[0];
    if (first === undefined) return null;

    let chunk = '';
    let resumedBefore: number | null = null;
    if (first.id > lastId + 1) {
      // Ids only grow and have no holes except where events were pruned: check for a gap.
      const oldest = await store.events.oldestId();
      if (oldest !== null && oldest > lastId + 1) {
        chunk += formatEvent(first.id - 1, 'summary', await store.state.summary());
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

  return { after: stepAfter, forget };
}

/**
 * The heartbeat: one timer for every open stream (a timer per client was a thousand timers),
 * running while there is at least one. Each stream registers its `ping`.
 */
function createHeartbeat(heartbeatMs: number) {
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

  return { add: addPing, remove: removePing };
}

export function createSseFanOut(deps: SseFanOutDeps): SseFanOut {
  const { store, metrics, logger, heartbeatMs, maxLag, batchSize, retryMs, writeTimeoutMs } = deps;
  const shutdown = deps.signal;

  const steps = createSteps(store, batchSize);
  const heartbeat = createHeartbeat(heartbeatMs);
  const keyStreams = createKeyStreams({ keys: store.keys, now: deps.now, checkEveryMs: deps.revocationCheckMs, logger });
  /** Streams that hear commits; with none, nothing empties the steps, so they are forgotten. */
  let listening = 0;

  /** Starts serving one client; returns the body of its response. */
  function open(outgoing: { destroy(): void } | undefined, start: StreamStart, keyId?: string): ReadableStream<Uint8Array> {
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
      const forgetKey = keyId === undefined ? undefined : keyStreams.add(keyId, () => stop('revoked'));
      try {
        shutdown?.addEventListener('abort', onShutdown);
        if (shutdown?.aborted) stop('shutdown');

        unsubscribe = store.events.subscribe((event) => {
          steps.forget();
          // Events appended before the client connected (a replay) do not count as lag.
          if (event.id - Math.max(lastId, start.liveFrom) > maxLag) stop('lagging');
          else poke();
        });
        listening += 1;
        heartbeat.add(ping);

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

          const step = await steps.after(lastId);
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
        forgetKey?.();
        heartbeat.remove(ping);
        if (unsubscribe !== undefined) {
          unsubscribe();
          listening -= 1;
          if (listening === 0) steps.forget();
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
          // Shutdown, revoked key: the response ends once what was taken is written (nothing more
          // is: the pending write lost its race). Disconnected: already gone.
          body.close();
          logger.debug({ reason, lastEventId: lastId }, 'event stream ended');
        }
      }
    };
    void run();
    return body.readable;
  }

  return {
    async startAt(lastEventId) {
      const latest = await store.events.latestId();
      if (lastEventId === undefined || lastEventId > latest) {
        // The summary is read after `latest`: what commits in between is sent again, never lost.
        return { cursor: latest, liveFrom: latest, greeting: formatEvent(latest, 'summary', await store.state.summary()) };
      }
      // A Last-Event-ID older than the retained history is noticed (and answered) by the stream.
      return { cursor: lastEventId, liveFrom: latest, greeting: '' };
    },
    open,
  };
}
