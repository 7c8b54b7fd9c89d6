import pg from 'pg';
import { toIso } from '../time.js';

/**
 * The connection to PostgreSQL: one pg Pool per relay. Values come back in the shapes the SQLite
 * store hands around, so the parts above see the same rows from either database: ids (bigint) as
 * numbers, times (timestamptz) as the store's one time text (time.ts), never Date objects.
 */

const INT8 = 20;
const TIMESTAMPTZ = 1184;

// pg's own timestamptz parser reads every offset PostgreSQL may print (the session's TimeZone
// decides which); toIso then gives the stored shape back: millisecond input round-trips exactly.
const parseDate = pg.types.getTypeParser(TIMESTAMPTZ, 'text') as (text: string) => Date;

/** Parses what this store reads; every other type as pg does. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    // Ids and counters stay far below 2^53 (a relay would need 285 years at a million events a second).
    if (oid === INT8) return (text: string) => Number(text);
    if (oid === TIMESTAMPTZ) return (text: string) => toIso(parseDate(text));
    return pg.types.getTypeParser(oid, format ?? 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PoolOptions {
  /** At most this many connections to the server (pg's default is 10). */
  max?: number;
  /** Names the relay's connections in pg_stat_activity. */
  applicationName?: string;
  /**
   * Hears of an idle connection the server ended (a restart, a terminated backend), e.g. to log
   * it: its message and code only, as pg attaches the client, password and all, to such an error.
   */
  onIdleError?: (error: Error) => void;
}

/** A pool on the database the URL names. Nothing connects until the first query. */
export function openPool(url: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig(url, options.applicationName), max: options.max ?? 10 });
  // The pool has already dropped such a connection, and the next query takes a new one; but an
  // 'error' event nobody listens to would end the process.
  pool.on('error', (error) => options.onIdleError?.(error));
  return pool;
}

/** What a single connection needs (the pool's, and the leader's own connection). */
export function clientConfig(url: string, applicationName = 'triplink-relay'): pg.ClientConfig {
  return { connectionString: url, types, application_name: applicationName };
}
