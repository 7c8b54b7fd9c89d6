import Database from 'better-sqlite3';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { noticingFailures } from '../../../relay/store/health.js';
import pg from 'pg';
import { storageProblemOf, type Db, type Store } from '../../../relay/store/index.js';
import { pgStorageProblemOf } from '../../../relay/store/postgres/health.js';
import { openPgStore } from '../../../relay/store/postgres/index.js';
import { TEST_VAULT } from '../../helpers/vault.js';
import { DATABASES, databasePerTest, type DatabaseHarness, type TestStore } from './databases.js';
import { record, StoreHarness } from './helpers.js';

/**
 * How the store knows it can write (relay/store/health.ts): a probe write that is rolled back,
 * committed instead while a storage failure is remembered.
 */

let harness: StoreHarness | undefined;
let connection: Db | undefined;
let other: Database.Database | undefined;
afterEach(() => {
  other?.close();
  other = undefined;
  harness?.cleanup();
  harness = undefined;
});

function open(): { store: Store; db: Db; commitsSeen: () => number } {
  const h = (harness = new StoreHarness());
  const store = h.storeWith({ onOpen: (db) => (connection = db) });
  // data_version moves for a connection when another one has committed: this one sees the store's commits.
  other = new Database(h.path);
  const watcher = other;
  return { store, db: connection!, commitsSeen: () => Number(watcher.pragma('data_version', { simple: true })) };
}

describe('store health on SQLite (its own failures: query_only, max_page_count, another process’s write lock)', () => {
  it('writes nothing to the file while all is well: the probe is rolled back', () => {
    const { store, commitsSeen } = open();
    store.requests.upsertFromConcur([record('A')], harness!.clock.iso());
    const before = commitsSeen();
    for (let i = 0; i < 5; i += 1) expect(store.health.check()).toEqual({ ok: true });
    expect(commitsSeen()).toBe(before);
    expect(other!.prepare("SELECT COUNT(*) AS n FROM relay_state WHERE key = 'health.probe'").get()).toEqual({ n: 0 });
  });

  it('remembers a failed write, and is healthy again only once a probe has committed (leaving no row)', () => {
    const { store, db, commitsSeen } = open();
    db.pragma('query_only = ON');
    expect(() => store.requests.upsertFromConcur([record('A')], harness!.clock.iso())).toThrow(/readonly/);
    db.pragma('query_only = OFF');

    const before = commitsSeen();
    expect(store.health.check()).toEqual({ ok: true });
    expect(commitsSeen()).toBeGreaterThan(before);
    expect(other!.prepare("SELECT COUNT(*) AS n FROM relay_state WHERE key = 'health.probe'").get()).toEqual({ n: 0 });

    // Forgotten: the next checks roll back again.
    const after = commitsSeen();
    expect(store.health.check()).toEqual({ ok: true });
    expect(commitsSeen()).toBe(after);
  });

  it('names the problem: full, read-only', () => {
    const { store, db } = open();
    db.pragma('query_only = ON');
    expect(store.health.check()).toEqual({ ok: false, problem: 'read_only' });
    db.pragma('query_only = OFF');
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`);
    expect(store.health.check()).toEqual({ ok: false, problem: 'full' });
    db.pragma('max_page_count = 1073741823');
    expect(store.health.check()).toEqual({ ok: true });
    expect(store.health.check().ok).toBe(true);
  });

  it('does not wait for another process’s write lock, and does not call that a failure', () => {
    const { store } = open();
    other!.exec('BEGIN IMMEDIATE');
    try {
      expect(store.health.check()).toEqual({ ok: true });
    } finally {
      other!.exec('ROLLBACK');
    }
  });
});

describe('noticingFailures', () => {
  /** A part of a store that answers with promises, as one on a database behind a socket does. */
  const full = new Database.SqliteError('database or disk is full', 'SQLITE_FULL');
  const asyncPart = {
    async counts(): Promise<number> {
      throw full;
    },
    async latestId(): Promise<number> {
      return 7;
    },
    close(): void {
      throw full;
    },
  };

  it('notices a storage failure that arrives as a rejected promise, and rejects with it unchanged', async () => {
    const noted: unknown[] = [];
    const part = noticingFailures(asyncPart, (error) => noted.push(error), ['close']);
    await expect(part.counts()).rejects.toBe(full);
    expect(noted).toEqual([full]);
    expect(storageProblemOf(noted[0])).toBe('full');
    await expect(part.latestId()).resolves.toBe(7);
    expect(noted).toHaveLength(1);
    // A method it was told to leave alone is not watched.
    expect(() => part.close()).toThrow(full);
    expect(noted).toHaveLength(1);
  });

  it('notices a storage failure thrown at once, and leaves a plain answer as it is', () => {
    const noted: unknown[] = [];
    const answer = { items: [] };
    const part = noticingFailures({ list: () => answer, counts: (): number => { throw full; } }, (error) => noted.push(error), []);
    expect(part.list()).toBe(answer);
    expect(() => part.counts()).toThrow(full);
    expect(noted).toEqual([full]);
  });
});

describe.each(DATABASES)('store health ($name)', (database) => {
  let store: TestStore;
  databasePerTest(database, (_h, s) => (store = s));

  it('leaves other errors alone: they are thrown on, not remembered', async () => {
    await expect(Promise.resolve().then(() => store.requests.list({ limit: 10, cursor: 'garbage!' }))).rejects.toThrow();
    expect(await store.health.check()).toEqual({ ok: true });
  });

  it('says so once the store is closed', async () => {
    await store.close();
    expect(await store.health.check()).toEqual({ ok: false, problem: 'closed' });
  });
});

/**
 * On PostgreSQL a trigger stands in for the server refusing writes, with the SQLSTATE the server
 * gives (25006 in a read-only transaction, as on a standby; 53100 when its disk is full), and
 * another logs each probe row that commits.
 */
describe('store health on PostgreSQL', () => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(DATABASES.find((d) => d.kind === 'postgres')!, (h, s) => ((harness = h), (store = s)));

  const setUp = async (): Promise<void> => {
    await harness.execute(`CREATE TABLE probe_log (key text NOT NULL);
      CREATE FUNCTION log_probe() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.key LIKE 'health.probe%' THEN INSERT INTO probe_log VALUES (NEW.key); END IF; RETURN NEW; END $$;
      CREATE TRIGGER log_probe AFTER INSERT ON relay_state FOR EACH ROW EXECUTE FUNCTION log_probe();
      CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = TG_ARGV[0]; END $$`);
  };
  const refuse = (table: string, sqlstate: string) =>
    harness.execute(`DROP TRIGGER IF EXISTS refuse ON ${table}; CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION refuse('${sqlstate}')`);
  const allow = (table: string) => harness.execute(`DROP TRIGGER refuse ON ${table}`);
  const probesCommitted = async () => (await harness.rows<{ n: number }>('SELECT count(*)::int AS n FROM probe_log'))[0]!.n;
  const probeRowsLeft = async () => (await harness.rows<{ n: number }>("SELECT count(*)::int AS n FROM relay_state WHERE key LIKE 'health.probe%'"))[0]!.n;

  it('commits nothing while all is well: the probe is rolled back', async () => {
    await setUp();
    for (let i = 0; i < 5; i += 1) expect(await store.health.check()).toEqual({ ok: true });
    expect(await probesCommitted()).toBe(0);
    expect(await probeRowsLeft()).toBe(0);
  });

  it('names what the server refuses writes for: read-only, full', async () => {
    await setUp();
    await refuse('relay_state', '25006');
    expect(await store.health.check()).toEqual({ ok: false, problem: 'read_only' });
    await refuse('relay_state', '53100');
    expect(await store.health.check()).toEqual({ ok: false, problem: 'full' });
    await allow('relay_state');
    expect(await store.health.check()).toEqual({ ok: true });
    expect(await probeRowsLeft()).toBe(0);
  });

  it('remembers a failed write, and is healthy again only once a probe has committed (leaving no row)', async () => {
    await setUp();
    await refuse('api_keys', '53100');
    await expect(Promise.resolve().then(() => store.keys.create({ name: 'Alice', role: 'viewer' }, { keyId: null, name: 'cli' }))).rejects.toThrow('refused');
    await allow('api_keys');
    expect(await store.health.check()).toEqual({ ok: true });
    expect(await probesCommitted()).toBe(1);
    expect(await probeRowsLeft()).toBe(0);
    // Forgotten: the next checks roll back again.
    expect(await store.health.check()).toEqual({ ok: true });
    expect(await probesCommitted()).toBe(1);
  });

  it('answers "unreadable" while the server hangs without a word, sharing one check, and is healthy again once it answers', async () => {
    const proxy = await pausableProxy(new URL(await harness.url()));
    const hung = await openPgStore(proxy.url, { vault: TEST_VAULT, healthTimeoutMs: 300 });
    try {
      expect(await hung.health.check()).toEqual({ ok: true });
      proxy.pause();
      // Without its own deadline a check waits on the silent server for as long as TCP lets it.
      const checks = await Promise.all([hung.health.check(), hung.health.check(), hung.health.check()]);
      expect(checks).toEqual([{ ok: false, problem: 'unreadable' }, { ok: false, problem: 'unreadable' }, { ok: false, problem: 'unreadable' }]);
      // One check was under way for all three: one connection waits on the server, not three.
      expect(hung.pool.totalCount - hung.pool.idleCount).toBeLessThanOrEqual(1);
      proxy.resume();
      await expect.poll(() => hung.health.check(), { timeout: 10_000 }).toEqual({ ok: true });
    } finally {
      proxy.resume();
      await hung.close();
      await proxy.close();
    }
  });

  it('two relays checking at once are both healthy', async () => {
    const other = await harness.store();
    expect(await Promise.all([store.health.check(), other.health.check(), store.health.check()])).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
  });
});

describe('pgStorageProblemOf', () => {
  const pgError = (code: string) => Object.assign(new pg.DatabaseError('message', 0, 'error'), { code });

  it.each([
    ['53100', 'full'],
    ['25006', 'read_only'],
    ['58030', 'io_error'],
    ['58P01', 'io_error'],
    ['55P03', 'busy'],
    ['23505', undefined],
    ['57014', undefined],
  ])('%s → %s', (code, problem) => {
    expect(pgStorageProblemOf(pgError(code))).toBe(problem);
  });

  it('knows only PostgreSQL errors', () => {
    expect(pgStorageProblemOf(Object.assign(new Error('disk full'), { code: '53100' }))).toBeUndefined();
    expect(pgStorageProblemOf(new Database.SqliteError('database or disk is full', 'SQLITE_FULL'))).toBeUndefined();
  });
});

describe('storageProblemOf', () => {
  it.each([
    ['SQLITE_FULL', 'full'],
    ['SQLITE_READONLY', 'read_only'],
    ['SQLITE_READONLY_DBMOVED', 'read_only'],
    ['SQLITE_IOERR', 'io_error'],
    ['SQLITE_IOERR_WRITE', 'io_error'],
    ['SQLITE_IOERR_FSYNC', 'io_error'],
    ['SQLITE_CANTOPEN', 'io_error'],
    ['SQLITE_BUSY', 'busy'],
    ['SQLITE_BUSY_SNAPSHOT', 'busy'],
    ['SQLITE_CONSTRAINT_UNIQUE', undefined],
    ['SQLITE_CORRUPT', undefined],
    ['SQLITE_FULLX', undefined],
  ])('%s → %s', (code, problem) => {
    expect(storageProblemOf(new Database.SqliteError('message', code))).toBe(problem);
  });

  it('knows only SQLite errors', () => {
    expect(storageProblemOf(Object.assign(new Error('SQLITE_FULL'), { code: 'SQLITE_FULL' }))).toBeUndefined();
    expect(storageProblemOf('SQLITE_FULL')).toBeUndefined();
  });
});

/**
 * A loopback TCP proxy to PostgreSQL that can stop passing bytes either way without closing
 * anything: a server (or a network) that hangs, as a firewall dropping packets makes it.
 */
async function pausableProxy(target: URL): Promise<{ url: string; pause(): void; resume(): void; close(): Promise<void> }> {
  let paused = false;
  const pairs: Array<[Socket, Socket]> = [];
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    pairs.push([client, upstream]);
    if (paused) for (const socket of [client, upstream]) socket.pause();
    client.pipe(upstream).on('error', () => undefined);
    upstream.pipe(client).on('error', () => undefined);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.href,
    pause() {
      paused = true;
      for (const pair of pairs) for (const socket of pair) socket.pause();
    },
    resume() {
      paused = false;
      for (const pair of pairs) for (const socket of pair) socket.resume();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) for (const socket of pair) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
