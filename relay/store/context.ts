import type { Vault } from '../vault/vault.js';
import type { Db } from './db.js';
import { toIso } from './time.js';

/** What every store module shares: the connection, the clock, transactions. */
export interface StoreContext {
  readonly db: Db;
  /** Epoch milliseconds. */
  readonly clock: () => number;
  /** Seals every secret a part keeps (its `where`: `table.column:row`), and opens it again. */
  readonly vault: Vault;
  /** The clock as stored time text. */
  now(): string;
  /**
   * Runs `fn` in a transaction and returns its result. Inside another transaction it simply joins
   * it (no savepoint: nothing in the store catches an error half-way through a transaction, so
   * an error always rolls back the whole of it). Work registered with `afterCommit` during it runs
   * only once the outermost transaction has committed, and is dropped when it rolls back.
   */
  tx<T>(fn: () => T): T;
  /** Runs `fn` after the current transaction commits, or now when there is none. */
  afterCommit(fn: () => void): void;
}

export function createContext(db: Db, clock: () => number, vault: Vault): StoreContext {
  let queue: Array<() => void> = [];
  const run = db.transaction((fn: () => unknown) => fn());

  return {
    db,
    clock,
    vault,
    now: () => toIso(clock()),
    tx<T>(fn: () => T): T {
      // Joining: a savepoint per nested call (an event per request in a page) cost two more
      // statements each and bought nothing.
      if (db.inTransaction) return fn();
      let result: T;
      try {
        result = run(fn) as T;
      } catch (error) {
        queue = [];
        throw error;
      }
      const ready = queue;
      queue = [];
      for (const job of ready) job();
      return result;
    },
    afterCommit(fn: () => void): void {
      if (db.inTransaction) queue.push(fn);
      else fn();
    },
  };
}
