import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import type { Vault } from '../../vault/vault.js';
import { toIso } from '../time.js';

/**
 * What every PostgreSQL store part shares, as relay/store/context.ts is for SQLite: the pool, the
 * clock, the vault, transactions. The difference is that everything is asynchronous, and that a
 * transaction lives on one client of the pool: `query` finds it by itself (the async context the
 * transaction runs in), so a part calls `query` the same way inside a transaction and outside.
 */
export interface PgContext {
  readonly pool: pg.Pool;
  /** Epoch milliseconds. */
  readonly clock: () => number;
  readonly vault: Vault;
  /** The clock as stored time text. */
  now(): string;
  /** One statement: on the current transaction's client inside `tx`, on any pool client outside. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
  /**
   * Runs `fn` in a transaction on one client and returns its result. Inside another transaction it
   * joins it (as SQLite's does: nothing catches an error half-way, so an error rolls back the
   * whole). Work registered with `afterCommit` runs only once the outermost transaction has
   * committed, and is dropped when it rolls back.
   */
  tx<T>(fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` after the current transaction commits, or now when there is none. */
  afterCommit(fn: () => void): void;
}

interface Transaction {
  client: pg.PoolClient;
  afterCommit: Array<() => void>;
  /** False once it has committed or rolled back: work that outlives it runs outside it. */
  open: boolean;
}

export function createPgContext(pool: pg.Pool, clock: () => number, vault: Vault): PgContext {
  const transactions = new AsyncLocalStorage<Transaction>();
  const current = (): Transaction | undefined => {
    const transaction = transactions.getStore();
    return transaction?.open ? transaction : undefined;
  };

  async function tx<T>(fn: () => Promise<T>): Promise<T> {
    if (current() !== undefined) return fn();
    const client = await pool.connect();
    const transaction: Transaction = { client, afterCommit: [], open: true };
    let result: T;
    try {
      await client.query('BEGIN');
      result = await transactions.run(transaction, fn);
      await client.query('COMMIT');
    } catch (error) {
      transaction.open = false;
      // A client whose ROLLBACK failed is in an unknown state: it leaves the pool (release(error)).
      const broken = await client.query('ROLLBACK').then(
        () => undefined,
        (rollbackError: unknown) => (rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))),
      );
      client.release(broken);
      throw error;
    }
    transaction.open = false;
    client.release();
    for (const job of transaction.afterCommit) job();
    return result;
  }

  return {
    pool,
    clock,
    vault,
    now: () => toIso(clock()),
    query<R extends pg.QueryResultRow>(sql: string, values?: readonly unknown[]) {
      const on = current()?.client ?? pool;
      return on.query<R>(sql, values as unknown[] | undefined);
    },
    tx,
    afterCommit(fn: () => void): void {
      const transaction = current();
      if (transaction) transaction.afterCommit.push(fn);
      else fn();
    },
  };
}
