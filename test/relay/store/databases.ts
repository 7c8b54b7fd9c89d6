import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeEach } from 'vitest';
import { openStore, type Awaitable, type StoreOptions, type StoreParts } from '../../../relay/store/index.js';
import { openPgStore, type PgPartName } from '../../../relay/store/postgres/index.js';
import { migratePg } from '../../../relay/store/postgres/migrations.js';
import { openPool } from '../../../relay/store/postgres/pool.js';
import { clusterUrl, freshDatabase } from '../../helpers/postgres.js';
import { TEST_VAULT } from '../../helpers/vault.js';
import { tempDb, TestClock } from './helpers.js';

/**
 * The store's tests run against both databases: `describe.each(DATABASES)('… ($name)', (database) => …)`
 * with a DatabaseHarness per test (`databasePerTest`), awaiting every store call. A test of
 * several relays opens several stores on the harness's one database (`harness.store()` again).
 */

export type DatabaseKind = 'sqlite' | 'postgres';

export interface TestDatabase {
  readonly kind: DatabaseKind;
  /** For the test names. */
  readonly name: string;
}

export const DATABASES: readonly TestDatabase[] = [
  { kind: 'sqlite', name: 'SQLite' },
  { kind: 'postgres', name: 'PostgreSQL' },
];

/**
 * The store as both databases have it: the parts PostgreSQL has so far (PgPartName), each its
 * awaitable view. Grows as parts are ported.
 */
export type TestStore = Pick<StoreParts, 'migration' | PgPartName> & { close(): Awaitable<void> };

/** What a test may choose when it opens a store (the harness gives the clock and, unless told, the test vault). */
export type TestStoreOptions = Pick<StoreOptions, 'onListenerError' | 'askDirectory' | 'apiVersion' | 'relayId' | 'replyLeaseMs'> & {
  vault?: StoreOptions['vault'];
};

/**
 * Waits until the store's subscribers have heard of every event committed before the call:
 * PostgreSQL tells them after a round trip, SQLite as its write returns.
 */
export async function settled(store: TestStore): Promise<void> {
  if ('settled' in store.events && typeof store.events.settled === 'function') await (store.events.settled as () => Promise<void>)();
}

/** Runs `sql` on the cluster's `postgres` database. */
async function onCluster(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: clusterUrl() });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

const nameOf = (url: string): string => pg.escapeIdentifier(new URL(url).pathname.slice(1));

async function dropDatabase(url: string): Promise<void> {
  // FORCE: a connection a test left behind (an admin client it failed to end) must not keep the database.
  await onCluster(`DROP DATABASE IF EXISTS ${nameOf(url)} WITH (FORCE)`);
}

/**
 * A database migrated once per test file, that each test's database is copied from: a copy is as
 * fresh as a new database migrated (nothing but the schema), and saves the migration per test.
 */
let template: Promise<string> | undefined;
async function migratedTemplate(): Promise<string> {
  const url = await freshDatabase(`relay_template_${randomBytes(6).toString('hex')}`);
  const pool = openPool(url, { max: 1 });
  try {
    await migratePg(pool, () => new Date().toISOString());
  } finally {
    await pool.end();
  }
  return url;
}
afterAll(async () => {
  if (template !== undefined) await dropDatabase(await template);
});

/** A new database with the latest schema (no data, no canary): the URL. */
async function freshMigratedDatabase(): Promise<string> {
  template ??= migratedTemplate();
  const from = await template;
  const url = new URL(from);
  url.pathname = `/relay_test_${randomBytes(6).toString('hex')}`;
  await onCluster(`CREATE DATABASE ${nameOf(url.href)} TEMPLATE ${nameOf(from)}`);
  return url.href;
}

/** Opens stores on one fresh database (a temp file, or a database of the test cluster) and closes them all. */
export class DatabaseHarness {
  readonly clock = new TestClock();
  private readonly open: TestStore[] = [];
  private sqlite: ReturnType<typeof tempDb> | undefined;
  private pgUrl: Promise<string> | undefined;

  constructor(readonly database: TestDatabase) {}

  get kind(): DatabaseKind {
    return this.database.kind;
  }

  /** The store opened last (after a `reopen`, the new one). */
  get latest(): TestStore {
    const store = this.open.at(-1);
    if (store === undefined) throw new Error('no store is open');
    return store;
  }

  /** The PostgreSQL database's URL (created on first use). */
  url(): Promise<string> {
    if (this.database.kind !== 'postgres') throw new Error(`a ${this.database.name} database has no URL`);
    this.pgUrl ??= freshMigratedDatabase();
    return this.pgUrl;
  }

  /** The SQLite database's file (made on first use). */
  sqlitePath(): string {
    if (this.database.kind !== 'sqlite') throw new Error(`a ${this.database.name} database has no file`);
    this.sqlite ??= tempDb();
    return this.sqlite.path;
  }

  /**
   * Reads `sql` on the database from outside the store, as an operator would: its rows, as the
   * driver gives them (one statement both databases read alike).
   */
  async rows<R>(sql: string): Promise<R[]> {
    if (this.database.kind === 'sqlite') {
      const db = new Database(this.sqlitePath(), { readonly: true });
      try {
        return db.prepare(sql).all() as R[];
      } finally {
        db.close();
      }
    }
    const client = new pg.Client({ connectionString: await this.url() });
    await client.connect();
    try {
      return (await client.query(sql)).rows as R[];
    } finally {
      await client.end();
    }
  }

  /** Another store on this database: a restart, or (PostgreSQL) another relay. */
  async store(options: TestStoreOptions = {}): Promise<TestStore> {
    const full = { vault: TEST_VAULT, ...options, clock: this.clock.now };
    let store: TestStore;
    if (this.database.kind === 'sqlite') {
      this.sqlite ??= tempDb();
      store = openStore(this.sqlite.path, full);
    } else {
      store = await openPgStore(await this.url(), { ...full, pool: { max: 4 } });
    }
    this.open.push(store);
    return store;
  }

  /**
   * Runs `sql` on the database from outside the store (as an operator or a broken tool would):
   * one statement both databases read alike.
   */
  async execute(sql: string): Promise<void> {
    if (this.database.kind === 'sqlite') {
      this.sqlite ??= tempDb();
      const db = new Database(this.sqlite.path);
      try {
        db.prepare(sql).run();
      } finally {
        db.close();
      }
      return;
    }
    const client = new pg.Client({ connectionString: await this.url() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  /**
   * What the database holds, as someone reading it from outside the relay would find it (to show
   * a secret is not there in clear): SQLite's file and write-ahead log, byte for byte; PostgreSQL's
   * rows of `tables`, as text.
   */
  async rawText(tables: readonly string[]): Promise<string> {
    if (this.database.kind === 'sqlite') {
      const path = this.sqlitePath();
      return [path, `${path}-wal`].map((file) => (existsSync(file) ? readFileSync(file).toString('latin1') : '')).join('');
    }
    const rows = await Promise.all(tables.map((table) => this.rows<{ row: string }>(`SELECT t::text AS row FROM ${table} t`)));
    return rows.flat().map((row) => row.row).join('\n');
  }

  /** Closes every store opened so far and opens the database again, as a restart would. */
  async reopen(options: TestStoreOptions = {}): Promise<TestStore> {
    await this.closeAll();
    return this.store(options);
  }

  async closeAll(): Promise<void> {
    for (const store of this.open.splice(0)) await store.close();
  }

  /** Closes the stores and removes the database: a run makes one per test, some megabytes each. */
  async cleanup(): Promise<void> {
    await this.closeAll();
    this.sqlite?.cleanup();
    if (this.pgUrl !== undefined) await dropDatabase(await this.pgUrl);
  }
}

/** For each test, a harness on a fresh database of `database`'s kind and a store on it, handed to `use`; all closed after the test. */
export function databasePerTest(database: TestDatabase, use: (harness: DatabaseHarness, store: TestStore) => void): void {
  let harness: DatabaseHarness | undefined;
  beforeEach(async () => {
    harness = new DatabaseHarness(database);
    use(harness, await harness.store());
  });
  afterEach(async () => {
    await harness?.cleanup();
    harness = undefined;
  });
}
