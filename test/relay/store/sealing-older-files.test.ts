import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../../relay/store/index.js';
import { closeDatabase, openDatabase } from '../../../relay/store/db.js';
import { migrate } from '../../../relay/store/migrations.js';
import { DATABASES, DatabaseHarness } from './databases.js';
import { record } from './helpers.js';
import { A, B, expectReadable, fill, IDS, keyIdsIn, rawValues, refusedWith, sha256 } from './sealing-helpers.js';

/**
 * Secrets at rest in SQLite files an older relay wrote (issue 14): what it kept in clear is sealed
 * at open, and the key is checked before a pending migration. SQLite only: no PostgreSQL database
 * has such a past (its schema starts sealed, relay/store/postgres/sealing.ts).
 */

/** The migration that brought the vault's columns: found by what it does, so that renumbering it changes nothing here. */
const SEALING_VERSION = MIGRATIONS.find((m) => m.sql.includes('request_token_sha256'))!.version;

/** A database as the relay before issue 14 wrote it: the schema before the vault's migration, every secret in clear. */
function writeOldDatabase(path: string): { webhookId: string; secrets: string[] } {
  const db = openDatabase(path);
  const now = '2024-05-01T10:00:00.000Z';
  migrate(db, () => now, MIGRATIONS.filter((m) => m.version < SEALING_VERSION));
  const insert = db.prepare(`INSERT INTO requests (id, uri, first_name, middle_name, last_name, loyalty_number, discount_code, status,
    concur_status, concur_last_modified, message, user_id, request_token, request_token_issued_at, last_modified, first_seen_at, updated_at)
    VALUES (@id, @uri, @firstName, @middleName, @lastName, @loyaltyNumber, @discountCode, 'Pending', 'Pending', @lm, @message, @userId,
    @requestToken, @now, @lm, @now, @now)`);
  for (const id of IDS) insert.run({ ...record(id), lm: '2024-05-01T09:00:00.000Z', now });
  db.prepare(`INSERT INTO webhooks (id, url, events, state, created_at, updated_at) VALUES ('wh_old', 'https://hooks.example/in', '["reply.sent"]', 'enabled', ?, ?)`).run(now, now);
  const secrets = ['whsec_b2xkLXNlY3JldC1vbmUtdGhhdC1pcy1sb25nLWVub3VnaA==', 'whsec_b2xkLXNlY3JldC10d28tdGhhdC1pcy1sb25nLWVub3VnaA=='];
  db.prepare(`INSERT INTO webhook_secrets (webhook_id, secret, created_at, expires_at) VALUES ('wh_old', ?, ?, '2024-05-02T10:00:00.000Z')`).run(secrets[0], now);
  db.prepare(`INSERT INTO webhook_secrets (webhook_id, secret, created_at, expires_at) VALUES ('wh_old', ?, ?, NULL)`).run(secrets[1], now);
  const saved = JSON.stringify({ seed: sha256('configured-refresh'), token: 'rotated-refresh' });
  db.prepare(`INSERT INTO relay_state (key, value, updated_at) VALUES ('concur.refreshToken', ?, ?)`).run(saved, now);
  closeDatabase(db);
  return { webhookId: 'wh_old', secrets: [secrets[1]!, secrets[0]!] };
}

let harness: DatabaseHarness;
afterEach(() => harness.cleanup());
const fresh = () => (harness = new DatabaseHarness(DATABASES.find((d) => d.kind === 'sqlite')!));

describe('a database an older relay wrote, with its secrets in clear', () => {
  it('is sealed at open, in batches, and reads the same; a poll of the same requests changes nothing', async () => {
    fresh();
    const { secrets } = writeOldDatabase(harness.sqlitePath());
    expect(await keyIdsIn(harness)).toEqual(new Set(['clear']));

    const store = await harness.store({ vault: A });
    expect(store.migration.applied).toContain(SEALING_VERSION);
    expect(store.sealedAtOpen).toEqual({
      sealed: [
        { column: 'requests.request_token', count: IDS.length },
        { column: 'webhook_secrets.secret', count: 2 },
        { column: 'relay_state.value', count: 1 },
      ],
      canaryWritten: true,
    });
    expect(await keyIdsIn(harness)).toEqual(new Set([A.keyId]));
    await expectReadable(store, harness, secrets, false);
    // The SHA-256 filled as each token was sealed is what a poll compares: nothing looks changed.
    expect(await store.requests.upsertFromConcur(IDS.map((id) => record(id)), harness.clock.iso())).toEqual({ created: [], updated: [] });

    const bytes = await rawValues(harness);
    const again = await harness.reopen({ vault: A });
    expect(again.sealedAtOpen).toEqual({ sealed: [], canaryWritten: false });
    expect(await rawValues(harness)).toEqual(bytes);
  });

  it('is sealed whatever an earlier open left undone (a clear value among sealed ones)', async () => {
    fresh();
    await fill(await harness.store({ vault: A }), harness);
    await harness.closeAll();
    await harness.execute("UPDATE requests SET request_token = 'left-in-clear', request_token_sha256 = NULL WHERE id = 'R0100'");
    const again = await harness.store({ vault: A });
    expect(again.sealedAtOpen.sealed).toEqual([{ column: 'requests.request_token', count: 1 }]);
    expect(await keyIdsIn(harness)).toEqual(new Set([A.keyId]));
    expect(await again.requests.getRequestToken('R0100')).toBe('left-in-clear');
  });
});

describe('the canary of an older file', () => {
  it('is checked before a pending migration writes anything', async () => {
    fresh();
    await fill(await harness.store({ vault: A }), harness);
    await harness.closeAll();
    const db = new Database(harness.sqlitePath());
    // Back to the schema before sealing: the later migrations' tables go too.
    db.exec(`DELETE FROM schema_migrations WHERE version >= ${SEALING_VERSION}; ALTER TABLE requests DROP COLUMN request_token_sha256; DROP TABLE connections; DROP TABLE matches;
      DROP INDEX replies_one_on_its_way; CREATE UNIQUE INDEX replies_one_queued ON replies (request_id) WHERE state = 'queued';
      ALTER TABLE replies DROP COLUMN requested_status; ALTER TABLE replies DROP COLUMN exchanged_at;
      ALTER TABLE replies DROP COLUMN token_issued_at; ALTER TABLE replies DROP COLUMN exchange_attempts;
      ALTER TABLE requests DROP COLUMN email_addresses; ALTER TABLE requests DROP COLUMN user_errors;
      ALTER TABLE replies DROP COLUMN claimed_by; ALTER TABLE replies DROP COLUMN lease_until;
      ALTER TABLE deliveries DROP COLUMN claimed_by; ALTER TABLE deliveries DROP COLUMN lease_until`);
    db.close();
    await refusedWith(harness, B);
    expect((await harness.store({ vault: A })).migration.applied).toEqual(MIGRATIONS.filter((m) => m.version >= SEALING_VERSION).map((m) => m.version));
  });
});
