import type { Connection } from '../../shared/connections.js';
import type { ConnectionRequest, ReplyUpdatedData, Summary } from '../../shared/models.js';
import type { StoreContext } from './context.js';

/** Concur's poll state as the summary shows it. */
export type ConcurStatus = Summary['concur'];

/** What each stored event carries. Server-sent events use the first four; webhooks map them to theirs. */
export interface EventDataMap {
  'request.created': ConnectionRequest;
  'request.updated': ConnectionRequest;
  'reply.updated': ReplyUpdatedData;
  summary: Summary;
  'concur.state_changed': ConcurStatus;
  'connection.created': Connection;
  'connection.updated': Connection;
}
export type StoredEventType = keyof EventDataMap;
const STORED_EVENT_TYPES: readonly StoredEventType[] = [
  'request.created',
  'request.updated',
  'reply.updated',
  'summary',
  'concur.state_changed',
  'connection.created',
  'connection.updated',
];

export type StoredEvent = {
  [K in StoredEventType]: { id: number; type: K; data: EventDataMap[K]; createdAt: string };
}[StoredEventType];

export type EventListener = (event: StoredEvent) => void;
/** Hears every event one `appendAll` stores, in id order, inside its transaction. */
export type EventsListener = (events: readonly StoredEvent[]) => void;

/** An event to append: its type and the data that type carries. */
export type NewEvent = {
  [K in StoredEventType]: { type: K; data: EventDataMap[K] };
}[StoredEventType];

export interface EventRow {
  id: number;
  type: string;
  data: string;
  created_at: string;
}

export function toEvent(row: EventRow): StoredEvent | undefined {
  const type = STORED_EVENT_TYPES.find((known) => known === row.type);
  if (type === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(row.data);
  } catch {
    return undefined;
  }
  // The store wrote this JSON from the typed model for `type`; it is not validated again.
  return { id: row.id, type, data, createdAt: row.created_at } as StoredEvent;
}

/** How many events `prune` keeps unless told. */
export const DEFAULT_EVENTS_KEPT = 10_000;

export interface EventLog {
  append<K extends StoredEventType>(type: K, data: EventDataMap[K]): StoredEvent;
  /**
   * Appends `events` in one go, their ids in the order given (a page of requests announces its
   * changes this way: one statement and one fan-out for the page rather than one a request).
   */
  appendAll(events: readonly NewEvent[]): StoredEvent[];
  after(id: number, limit: number): StoredEvent[];
  /** 0 when the log is empty. */
  latestId(): number;
  /** The newest stored event of this type (undefined when none is kept). */
  lastOf(type: StoredEventType): StoredEvent | undefined;
  /** null when the log is empty; a client whose Last-Event-ID is below oldest − 1 has missed events. */
  oldestId(): number | null;
  /** Keeps the newest `keepLast` events (default DEFAULT_EVENTS_KEPT); returns how many were deleted. */
  prune(keepLast?: number): number;
  /** Hears each event once its transaction has committed; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void;
  /**
   * Runs `listener` inside the transaction that appends each event, before it commits: what it
   * writes commits with the event or not at all. For the store's own parts (deliveries.ts
   * registers the webhook fan-out here when it is created); a listener that throws rolls the
   * event back.
   */
  onAppend(listener: EventListener): void;
  /** As `onAppend`, hearing the events of one append together (deliveries.ts: one fan-out for them). */
  onAppendAll(listener: EventsListener): void;
  /**
   * A number that moves when another connection has committed to the database since this one
   * last looked (SQLite: never for this store's own writes, which `subscribe` hears; PostgreSQL
   * may move for more, postgres/events.ts). With both, a cache of answers built from the store
   * knows when they may have changed.
   */
  dataVersion(): number;
}

/**
 * The append-only event log. Ids come from AUTOINCREMENT, so they only grow, also across restarts
 * and after pruning. Listeners hear about an event once the transaction that wrote it has committed.
 */
export function createEventLog(ctx: StoreContext, onListenerError: (error: unknown) => void): EventLog {
  const { db } = ctx;
  const insert = db.prepare<[string, string, string]>('INSERT INTO events (type, data, created_at) VALUES (?, ?, ?)');
  const selectAfter = db.prepare<[number, number], EventRow>(
    'SELECT id, type, data, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?',
  );
  const selectLatest = db.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM events');
  const selectLastOf = db.prepare<[string], EventRow>('SELECT id, type, data, created_at FROM events WHERE type = ? ORDER BY id DESC LIMIT 1');
  const selectOldest = db.prepare<[], { id: number | null }>('SELECT MIN(id) AS id FROM events');
  const deleteOlder = db.prepare<[number]>(
    'DELETE FROM events WHERE id < (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)',
  );
  const deleteAll = db.prepare('DELETE FROM events');
  // SQLite's data_version (see dataVersion).
  const selectDataVersion = db.prepare<[], { data_version: number }>('PRAGMA data_version');
  const listeners = new Set<EventListener>();
  const inTransaction: EventsListener[] = [];

  function notify(event: StoredEvent): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        onListenerError(error);
      }
    }
  }

  function appendAll(given: readonly NewEvent[]): StoredEvent[] {
    if (given.length === 0) return [];
    return ctx.tx(() => {
      const createdAt = ctx.now();
      const stored = given.map(({ type, data }) => {
        const info = insert.run(type, JSON.stringify(data), createdAt);
        return { id: Number(info.lastInsertRowid), type, data, createdAt } as StoredEvent;
      });
      for (const listener of inTransaction) listener(stored);
      ctx.afterCommit(() => {
        for (const event of stored) notify(event);
      });
      return stored;
    });
  }

  return {
    append(type, data) {
      const [event] = appendAll([{ type, data } as NewEvent]);
      if (event === undefined) throw new Error('the event was not stored');
      return event;
    },
    appendAll,
    after(id, limit) {
      const from = Number.isFinite(id) ? Math.max(0, Math.trunc(id)) : 0;
      const rows = selectAfter.all(from, Number.isFinite(limit) ? Math.max(1, Math.trunc(limit)) : 1);
      return rows.flatMap((row) => toEvent(row) ?? []);
    },
    latestId() {
      return selectLatest.get()?.id ?? 0;
    },
    lastOf(type) {
      const row = selectLastOf.get(type);
      return row === undefined ? undefined : toEvent(row);
    },
    oldestId() {
      return selectOldest.get()?.id ?? null;
    },
    prune(keepLast = DEFAULT_EVENTS_KEPT) {
      if (!Number.isFinite(keepLast)) return 0;
      const keep = Math.max(0, Math.trunc(keepLast));
      return keep === 0 ? deleteAll.run().changes : deleteOlder.run(keep - 1).changes;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onAppend(listener) {
      inTransaction.push((events) => {
        for (const event of events) listener(event);
      });
    },
    onAppendAll(listener) {
      inTransaction.push(listener);
    },
    dataVersion() {
      return selectDataVersion.get()?.data_version ?? 0;
    },
  };
}
