import { toEvent, type EventListener, type EventRow, type StoredEvent } from '../events.js';
import type { PgContext } from './context.js';

/** Events read per query while catching up. */
const CATCH_UP_BATCH = 500;

/**
 * Delivers to a store's subscribers the events after the last one delivered, in id order, once
 * each, one catch-up at a time (see events.ts).
 *
 * The events this store appended itself are handed over at their commit (`committed`) and
 * delivered from memory when they come next, without reading them back: when an append's first id
 * follows the last one delivered, no event before it can still commit (ids are taken under the
 * events lock, held until commit), so nothing is skipped. Otherwise (another relay's events came
 * in between, or a rolled-back append left a gap in the ids) they are read from the table like
 * anyone else's.
 */
export function createDelivery(ctx: PgContext, listeners: Set<EventListener>, onListenerError: (error: unknown) => void) {
  let last = 0;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  /** Asked to read the table (another relay's notice, a reconnection, `settled`) since the last read began. */
  let readAsked = false;
  /** This store's committed events not yet delivered, by id. */
  let own: StoredEvent[] = [];

  function deliver(event: StoredEvent): void {
    last = event.id;
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        onListenerError(error);
      }
    }
  }

  /** Delivers this store's own events that come next; drops those a read delivered already. */
  function deliverOwn(): void {
    while (own.length > 0) {
      const next = own[0]!;
      if (next.id > last + 1) return;
      own.shift();
      if (next.id === last + 1) deliver(next);
    }
  }

  async function readTable(): Promise<void> {
    while (!stopped) {
      const { rows } = await ctx.query<EventRow>('SELECT id, type, data, created_at FROM events WHERE id > $1 ORDER BY id LIMIT $2', [
        last,
        CATCH_UP_BATCH,
      ]);
      for (const row of rows) {
        const event = toEvent(row);
        if (event === undefined) last = row.id;
        else deliver(event);
      }
      deliverOwn();
      if (rows.length < CATCH_UP_BATCH) break;
    }
  }

  async function run(): Promise<void> {
    do {
      again = false;
      deliverOwn();
      // Own events still waiting follow a gap: what fills it is in the table.
      if (!readAsked && own.length === 0) continue;
      readAsked = false;
      await readTable();
    } while (again && !stopped);
  }

  function catchUp(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = run()
      .catch((error: unknown) => onListenerError(error))
      .finally(() => (running = undefined));
    return running;
  }

  return {
    async start(): Promise<void> {
      const { rows } = await ctx.query<{ id: number | null }>('SELECT MAX(id) AS id FROM events');
      last = rows[0]?.id ?? 0;
    },
    /**
     * Reads and delivers what was committed before the call. A call while a catch-up runs asks
     * it for one more round (its commit may have come after that round's read) and waits for it.
     */
    catchUp(): Promise<void> {
      readAsked = true;
      return catchUp();
    },
    /** This store's own events, just committed: delivered without a read when they come next. */
    committed(events: readonly StoredEvent[]): Promise<void> {
      own = [...own, ...events].sort((a, b) => a.id - b.id);
      return catchUp();
    },
    async stop(): Promise<void> {
      stopped = true;
      again = false;
      await running;
    },
  };
}
