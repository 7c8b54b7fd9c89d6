import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { noticingFailures } from '../../../relay/store/health.js';
import { storageProblemOf, type Db, type Store } from '../../../relay/store/index.js';
import { record, StoreHarness } from './helpers.js';

/**
 * How the store knows it can write (relay/store/health.ts): a probe write that is rolled back,
 * committed instead while a storage failure is remembered.
 */

let harness: StoreHarness;
let connection: Db | undefined;
let other: Database.Database | undefined;
afterEach(() => {
  other?.close();
  other = undefined;
  harness.cleanup();
});

function open(): { store: Store; db: Db; commitsSeen: () => number } {
  harness = new StoreHarness();
  const store = harness.storeWith({ onOpen: (db) => (connection = db) });
  // data_version moves for a connection when another one has committed: this one sees the store's commits.
  other = new Database(harness.path);
  const watcher = other;
  return { store, db: connection!, commitsSeen: () => Number(watcher.pragma('data_version', { simple: true })) };
}

describe('store health', () => {
  it('writes nothing to the file while all is well: the probe is rolled back', () => {
    const { store, commitsSeen } = open();
    store.requests.upsertFromConcur([record('A')], harness.clock.iso());
    const before = commitsSeen();
    for (let i = 0; i < 5; i += 1) expect(store.health.check()).toEqual({ ok: true });
    expect(commitsSeen()).toBe(before);
    expect(other!.prepare("SELECT COUNT(*) AS n FROM relay_state WHERE key = 'health.probe'").get()).toEqual({ n: 0 });
  });

  it('remembers a failed write, and is healthy again only once a probe has committed (leaving no row)', () => {
    const { store, db, commitsSeen } = open();
    db.pragma('query_only = ON');
    expect(() => store.requests.upsertFromConcur([record('A')], harness.clock.iso())).toThrow(/readonly/);
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

  it('leaves other errors alone: they are thrown on, not remembered', () => {
    const { store } = open();
    expect(() => store.requests.list({ limit: 10, cursor: 'garbage!' })).toThrow();
    expect(store.health.check()).toEqual({ ok: true });
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
