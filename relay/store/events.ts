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
}
export type StoredEventType = keyof EventDataMap;
export const STORED_EVENT_TYPES: readonly StoredEventType[] = [
  'request.created',
  'request.updated',
  'reply.updated',
  'summary',
  'concur.state_changed',
];

export type StoredEvent = {
  [K in StoredEventType]: { id: number; type: K; data: EventDataMap[K]; createdAt: string };
}[StoredEventType];

export type EventListener = (event: StoredEvent) => void;

interface EventRow {
  id: number;
  type: string;
  data: string;
  created_at: string;
}

function toEvent(row: EventRow): StoredEvent | undefined {
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

export interface EventLog {
  append<K extends StoredEventType>(type: K, data: EventDataMap[K]): StoredEvent;
  after(id: number, limit: number): StoredEvent[];
  latestId(): number;
  oldestId(): number | null;
  prune(keepLast: number): number;
  subscribe(listener: EventListener): () => void;
}

/**
 * The append-only event log. Ids come from AUTOINCREMENT, so they only grow, also across restarts
 * and after pruning. Listeners hear about an event once the transaction that wrote it has committed.
 */
export function createEventLog(
  ctx: StoreContext,
  onListenerError: (error: unknown) => void,
  /** Runs inside the appending transaction (webhook deliveries): what it writes commits with the event or not at all. */
  onAppend?: (event: StoredEvent) => void,
): EventLog {
  const { db } = ctx;
  const insert = db.prepare<[string, string, string]>('INSERT INTO events (type, data, created_at) VALUES (?, ?, ?)');
  const selectAfter = db.prepare<[number, number], EventRow>(
    'SELECT id, type, data, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?',
  );
  const selectLatest = db.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM events');
  const selectOldest = db.prepare<[], { id: number | null }>('SELECT MIN(id) AS id FROM events');
  const deleteOlder = db.prepare<[number]>(
    'DELETE FROM events WHERE id < (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)',
  );
  const deleteAll = db.prepare('DELETE FROM events');
  const listeners = new Set<EventListener>();

  function notify(event: StoredEvent): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        onListenerError(error);
      }
    }
  }

  return {
    append(type, data) {
      return ctx.tx(() => {
        const createdAt = ctx.now();
        const info = insert.run(type, JSON.stringify(data), createdAt);
        const event = { id: Number(info.lastInsertRowid), type, data, createdAt } as StoredEvent;
        onAppend?.(event);
        ctx.afterCommit(() => notify(event));
        return event;
      });
    },
    after(id, limit) {
      const from = Number.isFinite(id) ? Math.max(0, Math.trunc(id)) : 0;
      const rows = selectAfter.all(from, Number.isFinite(limit) ? Math.max(1, Math.trunc(limit)) : 1);
      return rows.flatMap((row) => toEvent(row) ?? []);
    },
    latestId() {
      return selectLatest.get()?.id ?? 0;
    },
    oldestId() {
      return selectOldest.get()?.id ?? null;
    },
    prune(keepLast) {
      if (!Number.isFinite(keepLast)) return 0;
      const keep = Math.max(0, Math.trunc(keepLast));
      return keep === 0 ? deleteAll.run().changes : deleteOlder.run(keep - 1).changes;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
