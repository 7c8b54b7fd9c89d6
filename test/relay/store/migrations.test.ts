import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  LATEST_SCHEMA_VERSION,
  MIGRATIONS,
  openStore,
  SchemaTooNewError,
  StoreOpenError,
} from '../../../relay/store/index.js';
import { closeDatabase, openDatabase } from '../../../relay/store/db.js';
import { migrate } from '../../../relay/store/migrations.js';
import { record, StoreHarness, tempDb } from './helpers.js';
import { TEST_VAULT } from '../../helpers/vault.js';

describe('opening the store', () => {
  let harness: StoreHarness;
  beforeEach(() => {
    harness = new StoreHarness();
  });
  afterEach(() => harness.cleanup());

  it('creates the folder and the file, and migrates a new file to the latest version', () => {
    const store = harness.store();
    expect(existsSync(harness.path)).toBe(true);
    expect(store.migration).toEqual({ from: 0, to: LATEST_SCHEMA_VERSION, applied: MIGRATIONS.map((m) => m.version) });
    expect(store.health.check().ok).toBe(true);
  });

  it('applies nothing when opened again, and records each migration once', () => {
    harness.store();
    const again = harness.reopen();
    expect(again.migration).toEqual({ from: LATEST_SCHEMA_VERSION, to: LATEST_SCHEMA_VERSION, applied: [] });
    harness.reopen();
    harness.closeAll();

    const db = new Database(harness.path, { readonly: true });
    try {
      const rows = db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all();
      expect(rows).toHaveLength(MIGRATIONS.length);
      expect(rows).toMatchObject(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    } finally {
      db.close();
    }
  });

  it('sets the connection up: WAL, synchronous NORMAL, foreign keys, busy timeout', () => {
    const db = openDatabase(harness.path);
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    } finally {
      closeDatabase(db);
    }
  });

  it('numbers its migrations 1, 2, 3, … with nothing missing', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it('refuses a file migrated by a newer relay', () => {
    harness.store();
    harness.closeAll();
    const db = new Database(harness.path);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
      LATEST_SCHEMA_VERSION + 1,
      'from the future',
      '2030-01-01T00:00:00.000Z',
    );
    db.close();
    expect(() => harness.store()).toThrow(SchemaTooNewError);
  });

  it('reports a file that is not a database as a StoreOpenError naming the path', () => {
    const tmp = tempDb();
    try {
      const path = join(tmp.dir, 'notes.txt');
      writeFileSync(path, 'this is not a database, just some text that is long enough to be read as a header');
      let error: unknown;
      try {
        openStore(path, { vault: TEST_VAULT });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(StoreOpenError);
      expect((error as Error).message).toContain(path);
    } finally {
      tmp.cleanup();
    }
  });

  it('3: replies an older relay left queued are in doubt (read back before any PUT), with Concur’s LastModified as evidence', () => {
    const db = openDatabase(harness.path);
    migrate(db, () => '2024-05-01T10:00:00.000Z', MIGRATIONS.slice(0, 2));
    const row = (id: string) => ({ ...record(id), lm: '2024-05-01T09:00:00.000Z', now: '2024-05-01T10:00:00.000Z' });
    const insertRequest = db.prepare(`INSERT INTO requests (id, status, concur_status, concur_last_modified, request_token,
      last_modified, first_seen_at, updated_at) VALUES (@id, 'Pending', 'Pending', @lm, @requestToken, @lm, @now, @now)`);
    for (const id of ['Q', 'S']) insertRequest.run(row(id));
    const insertReply = db.prepare(`INSERT INTO replies (request_id, status, state, attempts, next_attempt_at, created_at, updated_at)
      VALUES (?, 'CRRET', ?, 1, ?, '2024-05-01T10:00:00.000Z', '2024-05-01T10:00:05.000Z')`);
    const queued = Number(insertReply.run('Q', 'queued', '2024-05-01T10:01:00.000Z').lastInsertRowid);
    const sent = Number(insertReply.run('S', 'sent', null).lastInsertRowid);
    closeDatabase(db);

    const store = harness.store();
    // Every later migration applies too (a fixed list here broke with each new one).
    expect(store.migration).toMatchObject({ from: 2, applied: MIGRATIONS.filter((m) => m.version > 2).map((m) => m.version) });
    expect(store.replies.get(queued)?.inDoubt).toEqual({
      startedAt: '2024-05-01T10:00:05.000Z',
      tokenSha256: null,
      lastModified: '2024-05-01T09:00:00.000Z',
    });
    expect(store.replies.get(sent)?.inDoubt).toBeUndefined();
  });

  it('8: requests an older relay kept (3.0: no addresses) read as none, and a 3.2 poll then adds them as a change', () => {
    const db = openDatabase(harness.path);
    migrate(db, () => '2024-05-01T10:00:00.000Z', MIGRATIONS.slice(0, 7));
    db.prepare(`INSERT INTO requests (id, status, concur_status, concur_last_modified, last_modified, first_seen_at, updated_at, user_id)
      VALUES ('A', 'Pending', 'Pending', '2024-05-01T09:00:00.000Z', '2024-05-01T09:00:00.000Z', '2024-05-01T10:00:00.000Z', '2024-05-01T10:00:00.000Z', 'u-1')`).run();
    closeDatabase(db);

    const store = harness.store();
    expect(store.migration).toMatchObject({ from: 7, applied: MIGRATIONS.filter((m) => m.version > 7).map((m) => m.version) });
    expect(store.requests.get('A')).toMatchObject({ userId: 'u-1', emailAddresses: [] });
    const polled = { ...record('A'), requestToken: null, userId: 'u-1', lastModified: '2024-05-01T09:00:00Z', uri: null, firstName: null, lastName: null, loyaltyNumber: null, discountCode: null };
    expect(store.requests.upsertFromConcur([polled], '2024-05-01T10:01:00.000Z').updated).toHaveLength(0);
    const { updated } = store.requests.upsertFromConcur([{ ...polled, emailAddresses: ['ada@example.com'] }], '2024-05-01T10:02:00.000Z');
    expect(updated.map((r) => r.emailAddresses)).toEqual([['ada@example.com']]);
  });

  it('works in memory too', () => {
    const store = openStore(':memory:', { vault: TEST_VAULT });
    expect(store.health.check().ok).toBe(true);
    store.close();
  });

  it('is not healthy once closed, and closing twice is harmless', () => {
    const store = harness.store();
    store.close();
    expect(store.health.check().ok).toBe(false);
    expect(() => store.close()).not.toThrow();
  });
});
