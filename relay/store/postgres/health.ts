import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { StorageProblem } from '../errors.js';
import type { StoreHealth } from '../health.js';
import type { PgContext } from './context.js';

/**
 * How the store on PostgreSQL knows whether it can read and write, for /healthz: the twin of
 * ../health.ts, with the same two steps. A read (`SELECT 1`), then a probe write in a transaction
 * of its own: one relay_state row, normally rolled back (nothing is left, nothing is made
 * durable), committed (with its row deleted in the same transaction) while a storage failure
 * that a store operation ran into is remembered, so the store is healthy again only once a real
 * commit has gone through. A database that takes writes no more (a standby promoted away, a
 * database or role made read-only, a full disk on the server) refuses the probe; a rolled-back
 * probe cannot see a failure that shows only when WAL is flushed at commit, hence the memory.
 *
 * Each relay probes under a key of its own, so that relays checking at once never wait for each
 * other's uncommitted row. The probe's statements give up after the timeout at the server; and the
 * whole check gives up after it at the relay too, so /healthz answers while the server (or the
 * network to it) hangs and answers nothing at all. Checks made while one is under way share it:
 * a hung server holds one pooled connection, not one per /healthz call.
 */

const PROBE_TIMEOUT_MS = 5000;

/** The storage problem a PostgreSQL error reports (by its SQLSTATE), or undefined for any other error. */
export function pgStorageProblemOf(error: unknown): StorageProblem | undefined {
  if (!(error instanceof pg.DatabaseError) || error.code === undefined) return undefined;
  const code = error.code;
  if (code === '53100') return 'full'; // disk_full
  if (code === '25006') return 'read_only'; // read_only_sql_transaction
  if (code.startsWith('58')) return 'io_error'; // system_error, io_error, undefined_file…
  if (code === '55P03') return 'busy'; // lock_not_available
  return undefined;
}

export interface PgStoreHealthCheck {
  /** Remembers a storage failure (see pgStorageProblemOf) that a store operation ran into. */
  note(error: unknown): void;
  check(): Promise<StoreHealth>;
}

export function createPgStoreHealth(ctx: PgContext, timeoutMs = PROBE_TIMEOUT_MS): PgStoreHealthCheck {
  const probeKey = `health.probe.${randomBytes(6).toString('hex')}`;
  let remembered: StorageProblem | undefined;

  /** undefined: the probe went through. */
  async function probe(commit: boolean): Promise<StorageProblem | 'unwritable' | undefined> {
    // ctx.tx would join a transaction of the caller's; the probe must run, and end, on its own.
    const client = await ctx.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
      await client.query('INSERT INTO relay_state (key, value, updated_at) VALUES ($1, $2, $3)', [probeKey, 'probe', ctx.now()]);
      if (commit) {
        await client.query('DELETE FROM relay_state WHERE key = $1', [probeKey]);
        await client.query('COMMIT');
      } else {
        await client.query('ROLLBACK');
      }
      return undefined;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      return pgStorageProblemOf(error) ?? 'unwritable';
    } finally {
      client.release(broken);
    }
  }

  async function checkOnce(): Promise<StoreHealth> {
    try {
      const { rows } = await ctx.query<{ ok: number }>('SELECT 1 AS ok');
      if (rows[0]?.ok !== 1) return { ok: false, problem: 'unreadable' };
    } catch {
      return { ok: false, problem: 'unreadable' };
    }
    let found: StorageProblem | 'unwritable' | undefined;
    try {
      found = await probe(remembered !== undefined);
    } catch {
      // No connection for the probe: the server went away since the read.
      return { ok: false, problem: 'unreadable' };
    }
    if (found !== undefined) {
      if (found !== 'unwritable' && found !== 'busy') remembered = found;
      return { ok: false, problem: found };
    }
    remembered = undefined;
    return { ok: true };
  }

  let running: Promise<StoreHealth> | undefined;
  return {
    note(error) {
      const problem = pgStorageProblemOf(error);
      if (problem !== undefined) remembered = problem;
    },

    check() {
      if (ctx.pool.ended) return Promise.resolve({ ok: false, problem: 'closed' });
      if (running === undefined) {
        const checked = checkOnce();
        running = checked;
        void checked.finally(() => {
          if (running === checked) running = undefined;
        });
      }
      return withinTimeout(running, timeoutMs);
    },
  };
}

/** The check's answer, or "unreadable" once `ms` have passed without one (the check runs on, shared by the next callers). */
async function withinTimeout(check: Promise<StoreHealth>, ms: number): Promise<StoreHealth> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<StoreHealth>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, problem: 'unreadable' }), ms);
  });
  try {
    return await Promise.race([check, late]);
  } finally {
    clearTimeout(timer);
  }
}
