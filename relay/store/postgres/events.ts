import { randomUUID } from 'node:crypto';
import {
  DEFAULT_EVENTS_KEPT,
  toEvent,
  type EventDataMap,
  type EventListener,
  type EventRow,
  type NewEvent,
  type StoredEvent,
  type StoredEventType,
} from '../events.js';
import type { EventLog } from '../index.js';
import type { PgContext } from './context.js';
import { ADVISORY_LOCK } from './locks.js';
import { createDelivery } from './events-delivery.js';
import type { PgNotices } from './notices.js';

/**
 * The PostgreSQL twin of events.ts: one log for every relay on the database. Ids come from the
 * table's one identity sequence; a transaction that appends announces it with one NOTIFY
 * (delivered by the server at commit, to every relay LISTENing); each store LISTENs on a connection
 * of its own and, on another relay's notification, reads the events after the last one it
 * delivered (its own it has in hand at its commit: events-delivery.ts), so its
 * subscribers hear every committed event of every relay, in id order, once each.
 */

/** The channel the appends announce on. */
export const EVENTS_CHANNEL = 'triplink_events';

/** An `onAppend` listener may write through the store, asynchronously: it is awaited inside the transaction. */
export type PgAppendListener = (event: StoredEvent) => void | Promise<void>;
/** As PgAppendListener, for the events of one append together. */
export type PgAppendAllListener = (events: readonly StoredEvent[]) => void | Promise<void>;

export interface PgEventLog extends EventLog {
  append<K extends StoredEventType>(type: K, data: EventDataMap[K]): Promise<StoredEvent>;
  appendAll(events: readonly NewEvent[]): Promise<StoredEvent[]>;
  onAppend(listener: PgAppendListener): void;
  onAppendAll(listener: PgAppendAllListener): void;
  /**
   * Resolves once the subscribers have heard every event committed before the call (by any relay).
   * For whoever must know they have (tests; a shutdown that flushes), never needed for correctness.
   */
  settled(): Promise<void>;
  /** Subscribers hear nothing more. */
  close(): Promise<void>;
}

export interface PgEventLogOptions {
  /** The store's LISTEN connection (notices.ts), which the store closes. */
  notices: PgNotices;
  onListenerError: (error: unknown) => void;
}

/**
 * Stores a list of events ($1 types, $2 data, $3 the time) in one statement, answering their ids
 * in the order given. The events lock (see lockEvents) is taken as the ids' source is read, before
 * any id is taken from the sequence. The ids are taken first and then handed out smallest first
 * in the list's order (`numbered`), so the order holds whatever order the server computes the
 * sequence's values in. One NOTIFY, whose payload ($6) names the appending event log rather than
 * an id, so the server sends one for the whole transaction however many appends it makes (it
 * folds identical notifications of a transaction into one); it holds it until the commit and
 * drops it on a rollback. A listener reads the events after the last it delivered, so it needs no
 * id from it.
 */
const APPEND = `
  WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock($5)),
       taken AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('events', 'id')) AS id
                              FROM locked, generate_series(1, cardinality($1::text[]))),
       numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM taken),
       stored AS (INSERT INTO events (id, type, data, created_at)
                  SELECT numbered.id, given.type, given.data, $3::timestamptz
                  FROM numbered JOIN unnest($1::text[], $2::text[]) WITH ORDINALITY AS given (type, data, n) USING (n)
                  ORDER BY n
                  RETURNING id)
  SELECT array_agg(id ORDER BY id) AS ids, pg_notify($4, $6) FROM stored`;

/**
 * Takes the events lock for the rest of the caller's transaction. Why: ids from a sequence are
 * taken in one order and may commit in another (A takes 5, B takes 6, B commits first); a reader
 * that delivered 6 would move past 5 and never see it. With the lock held from before the id is
 * taken until commit, appending transactions commit one after the other in id order, so once an
 * id is visible every lower id that will ever commit is visible too, and "the events after the
 * last one delivered" misses nothing. A transaction that will append and also lock rows other
 * transactions append after (requests.ts's upsert) takes it first, before any row lock: two
 * transactions never hold one each while waiting for the other.
 */
export async function lockEvents(ctx: PgContext): Promise<void> {
  await ctx.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCK.events]);
}

export async function createPgEventLog(ctx: PgContext, options: PgEventLogOptions): Promise<PgEventLog> {
  const listeners = new Set<EventListener>();
  const inTransaction: PgAppendAllListener[] = [];
  const deliveries = createDelivery(ctx, listeners, options.onListenerError);
  // What this log's appends announce themselves with: its own notifications wake nothing (its
  // commits hand it their events, see below), another relay's make it read what they stored.
  const me = randomUUID();
  const read = (): void => void deliveries.catchUp();
  // A lost connection is made again, and then catches up with whatever was announced meanwhile:
  // the events themselves are in the table, only the wake-up was lost.
  const notice = (payload: string): void => {
    if (payload !== me) read();
  };
  await options.notices.listen(EVENTS_CHANNEL, { notice, reconnected: read });
  // LISTEN first, then where delivery starts: an event committed in between is announced to a
  // connection already listening, and read after `from`.
  await deliveries.start();

  const after = async (id: number, limit: number): Promise<StoredEvent[]> => {
    const from = Number.isFinite(id) ? Math.max(0, Math.trunc(id)) : 0;
    const { rows } = await ctx.query<EventRow>('SELECT id, type, data, created_at FROM events WHERE id > $1 ORDER BY id LIMIT $2', [
      from,
      Number.isFinite(limit) ? Math.max(1, Math.trunc(limit)) : 1,
    ]);
    return rows.flatMap((row) => toEvent(row) ?? []);
  };

  // Moves whenever any writing transaction of the cluster has ended since it was last read (see dataVersion).
  let snapshot: string | undefined;
  let version = 0;

  async function appendAll(given: readonly NewEvent[]): Promise<StoredEvent[]> {
    if (given.length === 0) return [];
    return ctx.tx(async () => {
      const createdAt = ctx.now();
      const { rows } = await ctx.query<{ ids: Array<number | string> }>(APPEND, [
        given.map((event) => event.type),
        given.map((event) => JSON.stringify(event.data)),
        createdAt,
        EVENTS_CHANNEL,
        ADVISORY_LOCK.events,
        me,
      ]);
      const ids = rows[0]?.ids ?? [];
      if (ids.length !== given.length) throw new Error('the events were not stored');
      const stored = given.map(({ type, data }, at) => ({ id: Number(ids[at]), type, data, createdAt }) as StoredEvent);
      for (const listener of inTransaction) await listener(stored);
      // This relay's own subscribers need not wait for the notification's round trip, nor read
      // back what it has in hand.
      ctx.afterCommit(() => void deliveries.committed(stored));
      return stored;
    });
  }

  return {
    async append(type, data) {
      const [event] = await appendAll([{ type, data } as NewEvent]);
      if (event === undefined) throw new Error('the event was not stored');
      return event;
    },
    appendAll,
    after,
    async latestId() {
      const { rows } = await ctx.query<{ id: number | null }>('SELECT MAX(id) AS id FROM events');
      return rows[0]?.id ?? 0;
    },
    async lastOf(type) {
      const { rows } = await ctx.query<EventRow>('SELECT id, type, data, created_at FROM events WHERE type = $1 ORDER BY id DESC LIMIT 1', [type]);
      return rows[0] === undefined ? undefined : toEvent(rows[0]);
    },
    async oldestId() {
      const { rows } = await ctx.query<{ id: number | null }>('SELECT MIN(id) AS id FROM events');
      return rows[0]?.id ?? null;
    },
    async prune(keepLast = DEFAULT_EVENTS_KEPT) {
      if (!Number.isFinite(keepLast)) return 0;
      const keep = Math.max(0, Math.trunc(keepLast));
      const result =
        keep === 0
          ? await ctx.query('DELETE FROM events')
          : await ctx.query('DELETE FROM events WHERE id < (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET $1)', [keep - 1]);
      return result.rowCount ?? 0;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onAppend(listener) {
      inTransaction.push(async (events) => {
        for (const event of events) await listener(event);
      });
    },
    onAppendAll(listener) {
      inTransaction.push(listener);
    },
    /**
     * SQLite's data_version moves when another connection committed; here a cache must also see
     * writes that append no event (a reply's attempts, a match), by any relay. The server's
     * current snapshot (`xmin:xmax:in-progress ids`) changes exactly when a transaction that wrote
     * something has ended since (one that takes no id, a read, leaves it as it was): a commit
     * either leaves the in-progress list or, begun and ended between two reads, moves xmax. It
     * moves for more than an answer could show (this relay's own writes, other databases of the
     * cluster, rollbacks): each costs a cache only a rebuild, while a counter that every part's
     * writes must bump, or the latest event id, would miss a write somebody forgot.
     */
    async dataVersion() {
      const { rows } = await ctx.query<{ snapshot: string }>('SELECT pg_current_snapshot()::text AS snapshot');
      const now = rows[0]?.snapshot;
      if (now !== snapshot) {
        snapshot = now;
        version += 1;
      }
      return version;
    },
    settled: () => deliveries.catchUp(),
    async close() {
      listeners.clear();
      // A catch-up under way ends before the pool does (it would fail on an ended one).
      await deliveries.stop();
    },
  };
}
