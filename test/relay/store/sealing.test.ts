import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, openStore, SEALED_COLUMNS, type Store } from '../../../relay/store/index.js';
import { closeDatabase, openDatabase } from '../../../relay/store/db.js';
import { migrate } from '../../../relay/store/migrations.js';
import { Vault, VaultError } from '../../../relay/vault/vault.js';
import { record, StoreHarness, TESTER } from './helpers.js';

/**
 * Secrets at rest (issue 14): what the parts write is sealed; what an older relay kept in clear is
 * sealed at open; a key that does not open the vault stops the open and writes nothing; a rotation
 * moves every value, and the canary last. Every check on "sealed" reads the file's raw rows.
 */

const KEY_A = randomBytes(32);
const KEY_B = randomBytes(32);
const A = new Vault({ current: KEY_A });
const B = new Vault({ current: KEY_B });
const B_OVER_A = new Vault({ current: KEY_B, old: [KEY_A] });

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const wrongKeyLine = (keyId: string) =>
  `RELAY_VAULT_KEY does not open this database's vault (its values are sealed with key ${keyId}); start with the key it was made with, or put that key in RELAY_VAULT_OLD_KEYS and run "vault rotate"`;

let harness: StoreHarness;
afterEach(() => harness?.cleanup());

const opened: Store[] = [];
afterEach(() => {
  for (const store of opened.splice(0)) store.close();
});

function open(vault: Vault): Store {
  const store = openStore(harness.path, { vault, clock: harness.clock.now });
  opened.push(store);
  return store;
}

function closeAll(): void {
  for (const store of opened.splice(0)) store.close();
}

/** Every value of every sealed column, and the canary, as the file holds them. */
function rawValues(path: string): { column: string; row: string; value: string }[] {
  const db = new Database(path, { readonly: true });
  try {
    const columns = [...SEALED_COLUMNS, { table: 'relay_state', column: 'value', row: 'key', where: "key = 'vault.canary'" }];
    // A file an older relay wrote may not have every table yet.
    const exists = (table: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
    return columns.filter((c) => exists(c.table)).flatMap((c) =>
      (
        db
          .prepare(`SELECT ${c.row} AS row, ${c.column} AS value FROM ${c.table} WHERE ${c.column} IS NOT NULL${c.where ? ` AND ${c.where}` : ''}`)
          .all() as { row: string | number; value: string }[]
      ).map(({ row, value }) => ({ column: `${c.table}.${c.column}${c.where?.includes('canary') ? ' (canary)' : ''}`, row: String(row), value })),
    );
  } finally {
    db.close();
  }
}

const keyIdsIn = (path: string) => new Set(rawValues(path).map(({ value }) => Vault.keyIdOf(value) ?? 'clear'));

/** The migration that brought the vault's columns: found by what it does, so that renumbering it changes nothing here. */
const SEALING_VERSION = MIGRATIONS.find((m) => m.sql.includes('request_token_sha256'))!.version;

const IDS = Array.from({ length: 250 }, (_, i) => `R${String(i).padStart(4, '0')}`);

/** A store under `vault` holding every kind of secret: 250 request tokens, two webhook secrets, a rotated refresh token. */
function fill(store: Store): { secrets: string[] } {
  store.requests.upsertFromConcur(IDS.map((id) => record(id)), harness.clock.iso());
  const { webhook, secret } = store.webhooks.create({ url: 'https://hooks.example/in', events: ['reply.sent'] }, TESTER);
  const rotated = store.webhooks.rotateSecret(webhook.id, TESTER).secret;
  store.state.saveRefreshToken('configured-refresh', 'rotated-refresh');
  store.connections.create({
    requestId: IDS[0]!,
    form: 'password',
    tokens: { ...CONNECTION_TOKENS, accessTokenExpiresAt: harness.clock.iso(), refreshTokenExpiresAt: null, geolocation: 'https://us.api.concursolutions.com' },
    connectedBy: 'tester',
    nextRefreshAt: harness.clock.ms,
  });
  return { secrets: [rotated, secret] };
}

/** A connection's tokens, as the exchange brought them. */
const CONNECTION_TOKENS = { accessToken: 'traveller-access-token', refreshToken: 'traveller-refresh-token', instanceUrl: 'https://us.api.concursolutions.com' };

/** `connection`: whether fill() made one (an older relay's file has none). */
function expectReadable(store: Store, secrets: string[], connection = true): void {
  for (const id of IDS) expect(store.requests.getRequestToken(id)).toBe(`secret-request-token-${id}`);
  const [webhook] = store.webhooks.list();
  expect(store.webhooks.signingSecrets(webhook!.id, harness.clock.ms)).toEqual(secrets);
  expect(store.state.currentRefreshToken('configured-refresh')).toBe('rotated-refresh');
  if (!connection) return;
  const made = store.connections.byRequest(IDS[0]!)!;
  expect(store.connections.tokens(made.id)).toMatchObject({ accessToken: CONNECTION_TOKENS.accessToken, refreshToken: CONNECTION_TOKENS.refreshToken });
}

describe('what the store writes', () => {
  it('is sealed under the current key, in its place; reading opens it', () => {
    harness = new StoreHarness();
    const store = open(A);
    const { secrets } = fill(store);
    expectReadable(store, secrets);
    const raw = rawValues(harness.path);
    expect(raw).toHaveLength(IDS.length + 2 + 1 + 2 + 1);
    expect(keyIdsIn(harness.path)).toEqual(new Set([A.keyId]));
    for (const { value } of raw) {
      for (const secret of [...secrets, 'rotated-refresh', 'secret-request-token', CONNECTION_TOKENS.accessToken, CONNECTION_TOKENS.refreshToken]) expect(value).not.toContain(secret);
    }
    // A sealed value copied to another row does not open there.
    const db = new Database(harness.path);
    db.prepare("UPDATE requests SET request_token = (SELECT request_token FROM requests WHERE id = 'R0001') WHERE id = 'R0002'").run();
    db.close();
    expect(() => store.requests.getRequestToken('R0002')).toThrow(VaultError);
  });

  it('keeps the token’s SHA-256 beside it: an unchanged token is neither compared by opening nor sealed again', () => {
    harness = new StoreHarness();
    const store = open(A);
    store.requests.upsertFromConcur([record('R1')], harness.clock.iso());
    const before = rawValues(harness.path).find((v) => v.row === 'R1')!.value;
    const db = new Database(harness.path, { readonly: true });
    expect(db.prepare("SELECT request_token_sha256 AS sha FROM requests WHERE id = 'R1'").get()).toEqual({ sha: sha256('secret-request-token-R1') });
    db.close();
    expect(store.requests.upsertFromConcur([record('R1')], harness.clock.iso())).toEqual({ created: [], updated: [] });
    // Another field changes: the row is written, the sealed token stays as it was.
    expect(store.requests.upsertFromConcur([record('R1', { firstName: 'Grace' })], harness.clock.iso()).updated).toHaveLength(1);
    expect(rawValues(harness.path).find((v) => v.row === 'R1')!.value).toBe(before);
    // A new token (Concur answered a CRRET) is sealed anew, and read back as the new one.
    store.requests.upsertFromConcur([record('R1', { firstName: 'Grace', requestToken: 'the-next-token' })], harness.clock.iso());
    expect(store.requests.getRequestToken('R1')).toBe('the-next-token');
    store.requests.upsertFromConcur([record('R1', { firstName: 'Grace', requestToken: null })], harness.clock.iso());
    expect(store.requests.getRequestToken('R1')).toBeNull();
  });
});

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

describe('a database an older relay wrote, with its secrets in clear', () => {
  it('is sealed at open, in batches, and reads the same; a poll of the same requests changes nothing', () => {
    harness = new StoreHarness();
    const { secrets } = writeOldDatabase(harness.path);
    expect(keyIdsIn(harness.path)).toEqual(new Set(['clear']));

    const store = open(A);
    expect(store.migration.applied).toContain(SEALING_VERSION);
    expect(store.sealedAtOpen).toEqual({
      sealed: [
        { column: 'requests.request_token', count: IDS.length },
        { column: 'webhook_secrets.secret', count: 2 },
        { column: 'relay_state.value', count: 1 },
      ],
      canaryWritten: true,
    });
    expect(keyIdsIn(harness.path)).toEqual(new Set([A.keyId]));
    expectReadable(store, secrets, false);
    // The SHA-256 filled as each token was sealed is what a poll compares: nothing looks changed.
    expect(store.requests.upsertFromConcur(IDS.map((id) => record(id)), harness.clock.iso())).toEqual({ created: [], updated: [] });

    const bytes = rawValues(harness.path);
    closeAll();
    const again = open(A);
    expect(again.sealedAtOpen).toEqual({ sealed: [], canaryWritten: false });
    expect(rawValues(harness.path)).toEqual(bytes);
  });

  it('is sealed whatever an earlier open left undone (a clear value among sealed ones)', () => {
    harness = new StoreHarness();
    const store = open(A);
    fill(store);
    closeAll();
    const db = new Database(harness.path);
    db.prepare("UPDATE requests SET request_token = 'left-in-clear', request_token_sha256 = NULL WHERE id = 'R0100'").run();
    db.close();
    const again = open(A);
    expect(again.sealedAtOpen.sealed).toEqual([{ column: 'requests.request_token', count: 1 }]);
    expect(keyIdsIn(harness.path)).toEqual(new Set([A.keyId]));
    expect(again.requests.getRequestToken('R0100')).toBe('left-in-clear');
  });
});

describe('the canary: a key that does not open the vault', () => {
  function fileState(path: string) {
    // Hashes: comparing the bytes themselves, element by element, is slow in expect.
    const hash = (file: string) => (existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : null);
    return { main: hash(path), wal: hash(`${path}-wal`) };
  }

  function refusedWith(vault: Vault): VaultError {
    const before = fileState(harness.path);
    let error: unknown;
    try {
      open(vault);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(VaultError);
    expect(fileState(harness.path)).toEqual(before);
    return error as VaultError;
  }

  it('stops the open with one clear line naming the key the values are under, and leaves the file byte for byte', () => {
    harness = new StoreHarness();
    fill(open(A));
    closeAll();
    const error = refusedWith(B);
    expect(error.message).toBe(wrongKeyLine(A.keyId));
    expect(error.message).not.toMatch(/\n/);
    // With the old key among RELAY_VAULT_OLD_KEYS it opens, and says the values are not under the new key yet.
    expect(open(B_OVER_A).sealing.keys()).toEqual({ current: B.keyId, canary: A.keyId });
  });

  it('is checked before a pending migration writes anything', () => {
    harness = new StoreHarness();
    fill(open(A));
    closeAll();
    const db = new Database(harness.path);
    // Back to the schema before sealing: the later migrations' tables go too.
    db.exec(`DELETE FROM schema_migrations WHERE version >= ${SEALING_VERSION}; ALTER TABLE requests DROP COLUMN request_token_sha256; DROP TABLE connections; DROP TABLE matches;
      DROP INDEX replies_one_on_its_way; CREATE UNIQUE INDEX replies_one_queued ON replies (request_id) WHERE state = 'queued';
      ALTER TABLE replies DROP COLUMN requested_status; ALTER TABLE replies DROP COLUMN exchanged_at;
      ALTER TABLE replies DROP COLUMN token_issued_at; ALTER TABLE replies DROP COLUMN exchange_attempts;
      ALTER TABLE requests DROP COLUMN email_addresses; ALTER TABLE requests DROP COLUMN user_errors;
      ALTER TABLE replies DROP COLUMN claimed_by; ALTER TABLE replies DROP COLUMN lease_until`);
    db.close();
    refusedWith(B);
    expect(open(A).migration.applied).toEqual(MIGRATIONS.filter((m) => m.version >= SEALING_VERSION).map((m) => m.version));
  });

  it('without a canary, sealed values themselves must open (a lost canary row lets no wrong key in)', () => {
    harness = new StoreHarness();
    fill(open(A));
    closeAll();
    const db = new Database(harness.path);
    db.prepare("DELETE FROM relay_state WHERE key = 'vault.canary'").run();
    db.close();
    expect(refusedWith(B).message).toBe(wrongKeyLine(A.keyId));
    expect(open(A).sealedAtOpen.canaryWritten).toBe(true);
  });

  it('a canary changed outside the relay stops the open too', () => {
    harness = new StoreHarness();
    open(A);
    closeAll();
    const db = new Database(harness.path);
    db.prepare("UPDATE relay_state SET value = 'not sealed' WHERE key = 'vault.canary'").run();
    db.close();
    expect(refusedWith(A).message).toMatch(/vault check value is not a sealed value/);
  });
});

describe('rotation', () => {
  it('re-seals every value with the new key, the canary last; the new key alone reads everything afterwards', () => {
    harness = new StoreHarness();
    const { secrets } = fill(open(A));
    closeAll();
    const progress: number[] = [];
    const report = open(B_OVER_A).sealing.rotate({ batchSize: 100, onBatch: (count) => progress.push(count.resealed) });
    expect(report).toEqual({
      keyId: B.keyId,
      columns: [
        { column: 'requests.request_token', sealed: 0, resealed: IDS.length, current: 0, older: 0 },
        { column: 'webhook_secrets.secret', sealed: 0, resealed: 2, current: 0, older: 0 },
        { column: 'relay_state.value', sealed: 0, resealed: 1, current: 0, older: 0 },
        { column: 'connections.access_token', sealed: 0, resealed: 1, current: 0, older: 0 },
        { column: 'connections.refresh_token', sealed: 0, resealed: 1, current: 0, older: 0 },
      ],
      canary: 'moved',
      passes: 2,
    });
    expect(progress.slice(0, 3)).toEqual([100, 200, 250]);
    expect(keyIdsIn(harness.path)).toEqual(new Set([B.keyId]));
    closeAll();

    expectReadable(open(B), secrets);
    closeAll();
    expect(() => open(A)).toThrow(wrongKeyLine(B.keyId));
    // Run again, it finds everything done.
    const again = open(B_OVER_A).sealing.rotate();
    expect(again.columns.map((c) => [c.resealed, c.current])).toEqual([[0, IDS.length], [0, 2], [0, 1], [0, 1], [0, 1]]);
    expect(again.canary).toBe('current');
  });

  it('stopped half-way, leaves each batch done or not, the canary under the old key; run again, it finishes', () => {
    harness = new StoreHarness();
    const { secrets } = fill(open(A));
    closeAll();
    let written = 0;
    const stopAt = () => {
      if (++written === 150) throw new Error('stopped');
    };
    expect(() => open(B_OVER_A).sealing.rotate({ batchSize: 100, onWritten: stopAt })).toThrow('stopped');
    const tokens = rawValues(harness.path).filter((v) => v.column === 'requests.request_token');
    // The first batch committed; the second rolled back whole.
    expect(tokens.filter((v) => Vault.keyIdOf(v.value) === B.keyId)).toHaveLength(100);
    expect(tokens.filter((v) => Vault.keyIdOf(v.value) === A.keyId)).toHaveLength(IDS.length - 100);
    closeAll();
    expect(() => open(B)).toThrow(wrongKeyLine(A.keyId));
    const rest = open(B_OVER_A).sealing.rotate({ batchSize: 100 });
    expect(rest.columns[0]).toEqual({ column: 'requests.request_token', sealed: 0, resealed: IDS.length - 100, current: 100, older: 0 });
    closeAll();
    expectReadable(open(B), secrets);
  });

  it('stops at a value under a key it was not given, naming the column and row, never the value', () => {
    harness = new StoreHarness();
    fill(open(A));
    closeAll();
    const stranger = new Vault({ current: randomBytes(32) });
    const db = new Database(harness.path);
    db.prepare("UPDATE requests SET request_token = ? WHERE id = 'R0007'").run(stranger.seal('secret-request-token-R0007', 'requests.request_token:R0007'));
    db.close();
    const store = open(B_OVER_A);
    expect(() => store.sealing.rotate()).toThrow(
      `requests.request_token of row "R0007": the value was sealed with vault key ${stranger.keyId}, which the relay was not given; put the key it was sealed with in RELAY_VAULT_OLD_KEYS and run "vault rotate" again`,
    );
    expect(store.sealing.keys().canary).toBe(A.keyId);
  });

  it('refuses to finish while a relay beside it still seals with the old key, and leaves the canary under it', () => {
    harness = new StoreHarness();
    fill(open(A));
    const stale = opened[0]!;
    const rotating = open(B_OVER_A);
    let n = 0;
    const staleWrite = () => stale.requests.upsertFromConcur([record('R0001', { requestToken: `stale-${n++}` })], harness.clock.iso());
    expect(() => rotating.sealing.rotate({ batchSize: 100, onBatch: staleWrite })).toThrow(
      /^values sealed with another key kept appearing in requests\.request_token while "vault rotate" ran: .*restart every relay with RELAY_VAULT_KEY set to the key [0-9a-f]{8}/,
    );
    expect(rotating.sealing.keys()).toEqual({ current: B.keyId, canary: A.keyId });
    expect(rotating.requests.getRequestToken('R0001')).toMatch(/^stale-/);
  });
});
