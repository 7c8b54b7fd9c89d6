import type { StoreContext } from './context.js';
import { storageProblemOf, type StorageProblem } from './errors.js';

/** Whether the store can be used: read, and written. */
export type StoreHealth =
  | { ok: true }
  | { ok: false; problem: StorageProblem | 'closed' | 'unreadable' | 'unwritable' };

export interface StoreHealthCheck {
  /** Remembers a storage failure (see storageProblemOf) that a store operation ran into. */
  note(error: unknown): void;
  check(): StoreHealth;
}

/** The relay_state key the probe writes; never left behind. */
const PROBE_KEY = 'health.probe';

/**
 * How the store knows whether it can write, for /healthz.
 *
 * A read (`SELECT 1`) says nothing about writing: a full disk, a read-only file or a failing disk
 * still serve reads. So each check also makes a probe write: one row in relay_state carrying a
 * page's worth of bytes, so that SQLite must find a page for it, as a growing table would.
 *
 * - Normally the probe is rolled back. In WAL mode nothing then reaches the disk: a health check
 *   every few seconds costs no writes, and still sees what SQLite refuses before writing — a
 *   read-only file or connection (SQLITE_READONLY), no page left under the size limit
 *   (SQLITE_FULL).
 * - A full disk or a failing one shows only when bytes are written, at commit. So every storage
 *   failure any store operation runs into (the API, the poller, the outbox, webhooks) is
 *   remembered, and while one is, the probe commits (and removes its row in the same
 *   transaction): the store is healthy again only once a real commit has gone through. Without
 *   the memory a rolled-back probe would report a store whose commits fail as healthy; without
 *   the committed probe the memory would last until some other write happened to succeed, and
 *   an idle relay would stay unhealthy after the disk was freed.
 *
 * The probe never waits for another process's write lock (busy_timeout 0 for its duration): the
 * store is synchronous, so a wait would stall the whole relay. A locked database is written by
 * someone, so that check is skipped and what is remembered stands.
 */
export function createStoreHealth(ctx: StoreContext, busyTimeoutMs: number): StoreHealthCheck {
  const { db } = ctx;
  const ping = db.prepare<[], { ok: number }>('SELECT 1 AS ok');
  const pageSize = Number(db.pragma('page_size', { simple: true })) || 4096;
  let insertProbe: ((bytes: number, now: string) => void) | undefined;
  let deleteProbe: (() => void) | undefined;
  let remembered: StorageProblem | undefined;

  /** undefined: the probe went through; 'skipped': another process holds the lock. */
  function probe(commit: boolean): StorageProblem | 'unwritable' | 'skipped' | undefined {
    // The store is synchronous, so no transaction of its own can be open here; if one were, the
    // probe must not end it.
    if (db.inTransaction) return 'skipped';
    try {
      insertProbe ??= (() => {
        const statement = db.prepare<[string, number, string]>(
          'INSERT OR REPLACE INTO relay_state (key, value, updated_at) VALUES (?, zeroblob(?), ?)',
        );
        return (bytes, now) => void statement.run(PROBE_KEY, bytes, now);
      })();
      deleteProbe ??= (() => {
        const statement = db.prepare<[string]>('DELETE FROM relay_state WHERE key = ?');
        return () => void statement.run(PROBE_KEY);
      })();
      db.pragma('busy_timeout = 0');
      try {
        db.exec('BEGIN IMMEDIATE');
        try {
          insertProbe(pageSize, ctx.now());
          if (commit) {
            deleteProbe();
            db.exec('COMMIT');
          }
        } finally {
          if (db.inTransaction) db.exec('ROLLBACK');
        }
      } finally {
        db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      }
      return undefined;
    } catch (error) {
      const problem = storageProblemOf(error);
      if (problem === 'busy') return 'skipped';
      return problem ?? 'unwritable';
    }
  }

  return {
    note(error) {
      const problem = storageProblemOf(error);
      if (problem !== undefined) remembered = problem;
    },

    check() {
      if (!db.open) return { ok: false, problem: 'closed' };
      try {
        if (ping.get()?.ok !== 1) return { ok: false, problem: 'unreadable' };
      } catch {
        return { ok: false, problem: 'unreadable' };
      }
      const found = probe(remembered !== undefined);
      if (found === 'skipped') return remembered === undefined ? { ok: true } : { ok: false, problem: remembered };
      if (found !== undefined) {
        if (found !== 'unwritable') remembered = found;
        return { ok: false, problem: found };
      }
      remembered = undefined;
      return { ok: true };
    },
  };
}

/**
 * `target` with each method wrapped so that a storage failure it throws, or a promise it returns
 * rejects with, is passed to `note` (and thrown on, or rejected with, unchanged). `except` names
 * methods to leave as they are. A method that answers a plain value (SQLite) answers it as it is:
 * only a promise gets a handler.
 */
export function noticingFailures<T extends object>(target: T, note: (error: unknown) => void, except: ReadonlyArray<keyof T>): T {
  const wrapped: T = { ...target };
  const rejected = (error: unknown): never => {
    note(error);
    throw error;
  };
  for (const key of Object.keys(target) as Array<keyof T>) {
    const method = target[key];
    if (typeof method !== 'function' || except.includes(key)) continue;
    const call = method as (...args: unknown[]) => unknown;
    wrapped[key] = function (this: unknown, ...args: unknown[]): unknown {
      let result: unknown;
      try {
        result = call.apply(this, args);
      } catch (error) {
        note(error);
        throw error;
      }
      return result instanceof Promise ? result.catch(rejected) : result;
    } as T[keyof T];
  }
  return wrapped;
}
