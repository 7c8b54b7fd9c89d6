import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SchemaTooNewError } from '../../../../relay/store/errors.js';
import { LATEST_SCHEMA_VERSION, migrate } from '../../../../relay/store/migrations.js';
import { migratePg, PG_MIGRATIONS } from '../../../../relay/store/postgres/migrations.js';
import { openPool } from '../../../../relay/store/postgres/pool.js';
import { freshDatabase } from '../../../helpers/postgres.js';
import { pgCatalog, sqliteCatalog } from './catalog.js';

const NOW = '2026-12-06T10:00:00.000Z';
const now = (): string => NOW;
/** Every PostgreSQL migration's number, in order: what a new database is brought through. */
const ALL = PG_MIGRATIONS.map((m) => m.version);

/** Each test on a database of its own (a new one is cheap on the test cluster). */
const pools: pg.Pool[] = [];
async function newPool(): Promise<pg.Pool> {
  const pool = openPool(await freshDatabase());
  pools.push(pool);
  return pool;
}
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

describe('migrating a PostgreSQL database', () => {
  let pool: pg.Pool;
  beforeEach(async () => {
    pool = await newPool();
  });

  it('brings a new database to the latest version, the same number as SQLite, recorded once', async () => {
    const result = await migratePg(pool, now);
    expect(result).toEqual({ from: 0, to: LATEST_SCHEMA_VERSION, applied: ALL });
    const { rows } = await pool.query('SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
    expect(rows).toEqual(PG_MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied_at: NOW })));
  });

  it('changes nothing the second time', async () => {
    await migratePg(pool, now);
    await pool.query(`INSERT INTO relay_state (key, value, updated_at) VALUES ('kept', 'yes', $1)`, [NOW]);
    const again = await migratePg(pool, () => '2026-12-07T00:00:00.000Z');
    expect(again).toEqual({ from: LATEST_SCHEMA_VERSION, to: LATEST_SCHEMA_VERSION, applied: [] });
    expect((await pool.query('SELECT version, applied_at FROM schema_migrations ORDER BY version')).rows).toEqual(ALL.map((version) => ({ version, applied_at: NOW })));
    expect((await pool.query(`SELECT value FROM relay_state WHERE key = 'kept'`)).rows).toEqual([{ value: 'yes' }]);
  });

  it('refuses a database a newer relay migrated, and leaves it as it was', async () => {
    await migratePg(pool, now);
    await pool.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [LATEST_SCHEMA_VERSION + 1, 'from the future', NOW]);
    const refused = migratePg(pool, now);
    await expect(refused).rejects.toBeInstanceOf(SchemaTooNewError);
    await expect(refused).rejects.toMatchObject({ code: 'schema_too_new', found: LATEST_SCHEMA_VERSION + 1, known: LATEST_SCHEMA_VERSION });
    expect((await pool.query('SELECT MAX(version) AS v FROM schema_migrations')).rows[0].v).toBe(LATEST_SCHEMA_VERSION + 1);
  });

  it('lets relays that start at once migrate one after the other: one applies, the others find it done', async () => {
    const url = await freshDatabase();
    const relays = [openPool(url), openPool(url), openPool(url)];
    pools.push(...relays);
    const results = await Promise.all(relays.map((relay) => migratePg(relay, now)));
    expect(results.map((r) => r.applied).sort()).toEqual([[], [], ALL]);
    expect((await relays[0]!.query('SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n).toBe(ALL.length);
  });

  it('rolls a failed migration back whole: no half-built schema, no version recorded', async () => {
    const broken = [{ ...PG_MIGRATIONS[0]!, sql: `${PG_MIGRATIONS[0]!.sql}; SELECT * FROM no_such_table` }];
    await expect(migratePg(pool, now, broken)).rejects.toThrow(/no_such_table/);
    const tables = await pool.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`);
    expect(tables.rows).toEqual([]);
    expect(await migratePg(pool, now)).toMatchObject({ from: 0, applied: ALL });
  });
});

describe('the PostgreSQL schema', () => {
  let sqlite: Database.Database;
  beforeEach(() => {
    sqlite = new Database(':memory:');
    migrate(sqlite, now);
  });
  afterEach(() => sqlite.close());

  it("is SQLite's latest schema: a SQLite migration without its PostgreSQL twin fails here", async () => {
    const pool = await newPool();
    await migratePg(pool, now);
    const [lite, post] = [sqliteCatalog(sqlite), await pgCatalog(pool)];
    // Part by part, so that a difference names what differs.
    expect(Object.keys(post.columns).sort()).toEqual(Object.keys(lite.columns).sort());
    expect(post.columns).toEqual(lite.columns);
    expect(post.primaryKeys).toEqual(lite.primaryKeys);
    expect(post.unique).toEqual(lite.unique);
    expect(post.foreignKeys).toEqual(lite.foreignKeys);
    expect(post.indexes).toEqual(lite.indexes);
    expect(PG_MIGRATIONS.at(-1)!.version).toBe(LATEST_SCHEMA_VERSION);
  });

  it('holds what the SQLite store reads back: ids as numbers from one sequence, times as the store writes them', async () => {
    const pool = await newPool();
    await migratePg(pool, now);
    const insert = `INSERT INTO events (type, data, created_at) VALUES ('summary', '{"a": 1,"b":2}', $1) RETURNING id, data, created_at`;
    const first = (await pool.query(insert, ['2026-12-06T10:00:00.120Z'])).rows[0];
    const second = (await pool.query(insert, ['2026-02-28T23:59:59.999Z'])).rows[0];
    expect(first).toEqual({ id: 1, data: '{"a": 1,"b":2}', created_at: '2026-12-06T10:00:00.120Z' });
    expect(second).toEqual({ id: 2, data: '{"a": 1,"b":2}', created_at: '2026-02-28T23:59:59.999Z' });
  });
});
