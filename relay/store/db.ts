import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { StoreOpenError } from './errors.js';

export type Db = Database.Database;

export interface OpenDatabaseOptions {
  /** How long a writer waits for another connection's lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
  /**
   * Opens the file read-only: what SQLite falls back to by itself when the process may not write
   * the file. Every write then fails with SQLITE_READONLY.
   */
  readonly?: boolean;
}

function isMemory(path: string): boolean {
  return path === ':memory:' || path === '';
}

/**
 * Opens (creating it and its folder when needed) the SQLite file and sets the connection up:
 * WAL journal, synchronous=NORMAL (durable across application crashes; a power cut can lose the
 * last commits but never corrupts), foreign keys on, a busy timeout.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): Db {
  let db: Db | undefined;
  try {
    if (!isMemory(path)) mkdirSync(dirname(resolve(path)), { recursive: true });
    db = new Database(path, { readonly: options.readonly === true });
    // Read-only, the file keeps the journal mode it has (WAL, once the relay has written it).
    if (options.readonly !== true) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
    return db;
  } catch (error) {
    db?.close();
    const reason = error instanceof Error ? error.message : String(error);
    throw new StoreOpenError(`cannot open the database ${JSON.stringify(path)}: ${reason}`, { cause: error });
  }
}

export function closeDatabase(db: Db, { optimize = true }: { optimize?: boolean } = {}): void {
  if (!db.open) return;
  try {
    if (optimize) db.pragma('optimize');
  } catch {
    // best effort only
  }
  db.close();
}
