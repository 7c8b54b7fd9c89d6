import { readFileSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ApiKey } from '../../../shared/people.js';
import { AmbiguousKeyError, UnknownKeyError, type Actor } from '../../../relay/store/index.js';
import { clusterUrl } from '../../helpers/postgres.js';
import { DATABASES, databasePerTest, type DatabaseHarness, type TestStore } from './databases.js';

/** API keys as records: made once and shown once, found by their hash, revoked for good, audited. */

const ADMIN: Actor = { keyId: 'key_admin', name: 'Root' };

/** Every byte the database keeps, as far as a test can read it: the SQLite file and its WAL, or every row of PostgreSQL's tables. */
async function databaseHolds(harness: DatabaseHarness, path: string | undefined, text: string): Promise<boolean> {
  if (harness.kind === 'sqlite') {
    const files = [path!, `${path}-wal`].flatMap((file) => {
      try {
        return [readFileSync(file)];
      } catch {
        return [];
      }
    });
    return files.some((bytes) => bytes.includes(Buffer.from(text)));
  }
  const client = new pg.Client({ connectionString: await harness.url() });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'");
    for (const { name } of tables.rows) {
      const { rows } = await client.query<{ found: boolean }>(`SELECT bool_or(t::text LIKE '%' || $1 || '%') AS found FROM ${pg.escapeIdentifier(name)} t`, [text]);
      if (rows[0]?.found === true) return true;
    }
    return false;
  } finally {
    await client.end();
  }
}

describe.each(DATABASES)('API keys in the store ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));

  it('makes a key of 32 random bytes, shows it once, and keeps only its hash and first 8 characters', async () => {
    const { key, secret } = await store.keys.create({ name: 'Alice', role: 'replier' }, ADMIN);
    expect(secret).toMatch(/^trl_[A-Za-z0-9_-]{43}$/);
    expect(ApiKey.parse(key)).toEqual({
      id: key.id,
      name: 'Alice',
      role: 'replier',
      prefix: secret.slice(0, 8),
      createdAt: harness.clock.iso(),
      lastUsedAt: null,
      revokedAt: null,
    });
    expect(await store.keys.find(secret)).toEqual(key);
    expect(await store.keys.find(`${secret}x`)).toBeUndefined();
    expect(await store.keys.list()).toEqual([key]);
    // Nowhere in the database is the key itself.
    const path = harness.kind === 'sqlite' ? harness.sqlitePath() : undefined;
    await harness.closeAll();
    expect(await databaseHolds(harness, path, secret.slice(0, 8))).toBe(true); // the reading finds what is there
    expect(await databaseHolds(harness, path, secret)).toBe(false);
    expect(await databaseHolds(harness, path, secret.slice(8))).toBe(false);
  });

  it('records its use at most once a minute, so reading with a key costs no write', async () => {
    const { key, secret } = await store.keys.create({ name: 'Alice', role: 'viewer' }, ADMIN);
    await store.keys.touch(key);
    const first = (await store.keys.find(secret))!;
    expect(first.lastUsedAt).toBe(harness.clock.iso());
    harness.clock.advance(30_000);
    await store.keys.touch(first);
    expect((await store.keys.find(secret))!.lastUsedAt).toBe(first.lastUsedAt);
    // Even when the caller's copy is stale, the write itself is guarded.
    await store.keys.touch(key);
    expect((await store.keys.find(secret))!.lastUsedAt).toBe(first.lastUsedAt);
    const later = harness.clock.advance(31_000);
    await store.keys.touch((await store.keys.find(secret))!);
    expect((await store.keys.find(secret))!.lastUsedAt).toBe(later);
  });

  it('revokes by id or by a prefix that names one key; an unknown or shared prefix is refused, naming the keys', async () => {
    const a = await store.keys.create({ name: 'Alice', role: 'replier' }, ADMIN);
    const b = await store.keys.create({ name: 'Bob', role: 'viewer' }, ADMIN);
    await expect(Promise.resolve().then(() => store.keys.revoke('trl_nope', ADMIN))).rejects.toThrow(UnknownKeyError);
    const revokedAt = harness.clock.advance(1000);
    expect(await store.keys.revoke(a.key.prefix, ADMIN)).toMatchObject({ id: a.key.id, revokedAt });
    expect((await store.keys.find(a.secret))?.revokedAt).toBe(revokedAt);
    // Revoking again changes nothing and writes no second audit line.
    harness.clock.advance(1000);
    expect((await store.keys.revoke(a.key.id, ADMIN)).revokedAt).toBe(revokedAt);
    expect((await store.keys.find(b.secret))?.revokedAt).toBeNull();
    expect(await store.keys.revokedSince(revokedAt)).toEqual([a.key.id]);
    expect(await store.keys.revokedSince(harness.clock.iso())).toEqual([]);

    // Two keys with one prefix (a made key has 4 random characters in it: it happens): the prefix is no name.
    await store.keys.syncEnvKeys(['shared-prefix-key-one-01', 'shared-prefix-key-two-02']);
    const twins = (await store.keys.list()).filter((key) => key.prefix === 'shared-p');
    expect(twins).toHaveLength(2);
    await expect(Promise.resolve().then(() => store.keys.revoke('shared-p', ADMIN))).rejects.toThrow(AmbiguousKeyError);
    for (const twin of twins) await expect(Promise.resolve().then(() => store.keys.revoke('shared-p', ADMIN))).rejects.toThrow(twin.id);
    expect((await store.keys.list()).filter((key) => key.revokedAt !== null).map((key) => key.id)).toEqual([a.key.id]);
  });

  it('writes key.created and key.revoked to the audit trail with the actor, never the key', async () => {
    const { key, secret } = await store.keys.create({ name: 'Alice', role: 'replier' }, ADMIN);
    await store.keys.revoke(key.id, { keyId: null, name: 'cli' });
    const { items } = await store.audit.list({ limit: 10 });
    expect(items.map((e) => [e.action, e.actor, e.target])).toEqual([
      ['key.revoked', { keyId: null, name: 'cli' }, key.id],
      ['key.created', ADMIN, key.id],
    ]);
    expect(items[1]!.details).toEqual({ name: 'Alice', role: 'replier', prefix: key.prefix });
    expect(JSON.stringify(items)).not.toContain(secret.slice(8));
  });

  it('keeps RELAY_API_KEYS in step: admin keys named "env key N"; one taken out is revoked; one revoked stays revoked', async () => {
    const [one, two] = ['first-configured-key-0123', 'second-configured-key-0123'];
    expect(await store.keys.syncEnvKeys([one, two])).toEqual({ added: 2, revoked: 0, stillRevoked: [] });
    expect(await store.keys.find(one)).toMatchObject({ name: 'env key 1', role: 'admin', prefix: one.slice(0, 8), revokedAt: null });
    expect(await store.keys.find(two)).toMatchObject({ name: 'env key 2', role: 'admin' });
    // A restart with the same keys changes nothing.
    expect(await store.keys.syncEnvKeys([one, two])).toEqual({ added: 0, revoked: 0, stillRevoked: [] });
    expect(await store.keys.list()).toHaveLength(2);

    expect(await store.keys.syncEnvKeys([two])).toEqual({ added: 0, revoked: 1, stillRevoked: [] });
    expect((await store.keys.find(one))?.revokedAt).not.toBeNull();
    expect((await store.keys.find(two))?.revokedAt).toBeNull();

    await store.keys.revoke((await store.keys.find(two))!.id, ADMIN);
    expect(await store.keys.syncEnvKeys([two])).toEqual({ added: 0, revoked: 0, stillRevoked: ['env key 2'] });
    expect((await store.keys.find(two))?.revokedAt).not.toBeNull();
    // Put back in the environment, a revoked env key does not come back either (it is the same key).
    expect((await store.keys.syncEnvKeys([one, two])).added).toBe(0);
    expect((await store.keys.find(one))?.revokedAt).not.toBeNull();
  });

  it('tells its listeners of each key it revokes, once the revocation has committed, and only once', async () => {
    // What the listener reads from the store when it is told: the revocation must be there to read.
    const heard: Array<[string, Promise<ApiKey | undefined>]> = [];
    store.keys.onRevoked((id) => heard.push([id, Promise.resolve(store.keys.get(id))]));
    const { key } = await store.keys.create({ name: 'Alice', role: 'viewer' }, ADMIN);
    await store.keys.revoke(key.id, ADMIN);
    await store.keys.revoke(key.id, ADMIN);
    expect(heard.map(([id]) => id)).toEqual([key.id]);
    expect((await heard[0]![1])?.revokedAt).toBe(harness.clock.iso());
    await store.keys.syncEnvKeys(['configured-key-0123456789']);
    const env = (await store.keys.find('configured-key-0123456789'))!;
    await store.keys.syncEnvKeys([]);
    expect(heard.map(([id]) => id)).toEqual([key.id, env.id]);
    expect(await store.keys.revokedSince(harness.clock.iso())).toEqual(expect.arrayContaining([key.id, env.id]));
  });
});

describe('API keys on PostgreSQL, shared by several relays', () => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(DATABASES.find((d) => d.kind === 'postgres')!, (h, s) => ((harness = h), (store = s)));

  /** Each id the store's onRevoked listeners hear, and a wait for the next one. */
  function listen(on: TestStore): { heard: string[]; next(): Promise<string> } {
    const heard: string[] = [];
    let waiting: Array<(id: string) => void> = [];
    on.keys.onRevoked((id) => {
      heard.push(id);
      for (const resolve of waiting.splice(0)) resolve(id);
    });
    return { heard, next: () => new Promise((resolve) => (waiting = [...waiting, resolve])) };
  }

  /** Revokes a new key through `by` and waits until the listening relay has heard of it: its id. */
  async function revokeAnother(by: TestStore, next: () => Promise<string>): Promise<string> {
    const { key } = await store.keys.create({ name: 'Bob', role: 'viewer' }, ADMIN);
    const told = next();
    await by.keys.revoke(key.id, ADMIN);
    expect(await told).toBe(key.id);
    return key.id;
  }

  it('a key revoked through one relay is refused by the other from the commit on, and the other’s listeners hear of it', async () => {
    const other = await harness.store();
    const { heard, next } = listen(other);
    const { key, secret } = await store.keys.create({ name: 'Alice', role: 'replier' }, ADMIN);
    expect((await other.keys.find(secret))?.revokedAt).toBeNull();
    const told = next();
    await store.keys.revoke(key.id, ADMIN);
    // No copy kept anywhere: the other relay's next lookup sees the revocation.
    expect((await other.keys.find(secret))?.revokedAt).toBe(harness.clock.iso());
    expect(await told).toBe(key.id);
    // Revoked again (by either): nothing more to hear.
    await other.keys.revoke(key.id, ADMIN);
    const second = await revokeAnother(other, next);
    expect(heard).toEqual([key.id, second]);
  });

  it('hears a revocation made while its connection to the database was cut, once it is back', async () => {
    const other = await harness.store();
    const { heard, next } = listen(other);
    const { key } = await store.keys.create({ name: 'Alice', role: 'replier' }, ADMIN);
    // From another database: a database's own sessions may not close it to connections.
    const admin = new pg.Client({ connectionString: clusterUrl() });
    await admin.connect();
    try {
      // Cut, and kept from coming back until the revocation has committed: no notice can carry it.
      const name = new URL(await harness.url()).pathname.slice(1);
      await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} ALLOW_CONNECTIONS false`);
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'triplink-relay notices' AND datname = $1", [name]);
      const told = next();
      await store.keys.revoke(key.id, ADMIN);
      expect(heard).toEqual([]);
      await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} ALLOW_CONNECTIONS true`);
      expect(await told).toBe(key.id);
    } finally {
      await admin.end();
    }
    // Heard once, and notices heard again after the reconnection.
    const second = await revokeAnother(store, next);
    expect(heard).toEqual([key.id, second]);
  });

  it('relays starting at once with the same RELAY_API_KEYS add each key once', async () => {
    const others = await Promise.all([harness.store(), harness.store()]);
    const keys = ['first-configured-key-0123', 'second-configured-key-0123'];
    const results = await Promise.all([store, ...others].map((on) => on.keys.syncEnvKeys(keys)));
    expect(results.map((r) => r.added).sort()).toEqual([0, 0, 2]);
    expect((await store.keys.list()).map((key) => key.name).sort()).toEqual(['env key 1', 'env key 2']);
    expect((await store.audit.list({ limit: 10 })).items).toHaveLength(2);
  });
});
