import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ApiKey } from '../../../shared/people.js';
import { AmbiguousKeyError, UnknownKeyError, type Actor, type Store } from '../../../relay/store/index.js';
import { storePerTest, type StoreHarness } from './helpers.js';

/** API keys as records: made once and shown once, found by their hash, revoked for good, audited. */

const ADMIN: Actor = { keyId: 'key_admin', name: 'Root' };

describe('API keys in the store', () => {
  let harness: StoreHarness;
  let store: Store;
  storePerTest((h, s) => ((harness = h), (store = s)));

  it('makes a key of 32 random bytes, shows it once, and keeps only its hash and first 8 characters', () => {
    const { key, secret } = store.keys.create({ name: 'Alice', role: 'replier' }, ADMIN);
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
    expect(store.keys.find(secret)).toEqual(key);
    expect(store.keys.find(`${secret}x`)).toBeUndefined();
    expect(store.keys.list()).toEqual([key]);
    // Nowhere in the database file (or its write-ahead log) is the key itself.
    store.close();
    for (const file of [harness.path, `${harness.path}-wal`]) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch {
        continue;
      }
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
      expect(bytes.includes(Buffer.from(secret.slice(8)))).toBe(false);
    }
  });

  it('records its use at most once a minute, so reading with a key costs no write', () => {
    const { key, secret } = store.keys.create({ name: 'Alice', role: 'viewer' }, ADMIN);
    store.keys.touch(key);
    const first = store.keys.find(secret)!;
    expect(first.lastUsedAt).toBe(harness.clock.iso());
    harness.clock.advance(30_000);
    store.keys.touch(first);
    expect(store.keys.find(secret)!.lastUsedAt).toBe(first.lastUsedAt);
    // Even when the caller's copy is stale, the write itself is guarded.
    store.keys.touch(key);
    expect(store.keys.find(secret)!.lastUsedAt).toBe(first.lastUsedAt);
    const later = harness.clock.advance(31_000);
    store.keys.touch(store.keys.find(secret)!);
    expect(store.keys.find(secret)!.lastUsedAt).toBe(later);
  });

  it('revokes by id or by a prefix that names one key; an unknown or shared prefix is refused, naming the keys', () => {
    const a = store.keys.create({ name: 'Alice', role: 'replier' }, ADMIN);
    const b = store.keys.create({ name: 'Bob', role: 'viewer' }, ADMIN);
    expect(() => store.keys.revoke('trl_nope', ADMIN)).toThrow(UnknownKeyError);
    const revokedAt = harness.clock.advance(1000);
    expect(store.keys.revoke(a.key.prefix, ADMIN)).toMatchObject({ id: a.key.id, revokedAt });
    expect(store.keys.find(a.secret)?.revokedAt).toBe(revokedAt);
    // Revoking again changes nothing and writes no second audit line.
    harness.clock.advance(1000);
    expect(store.keys.revoke(a.key.id, ADMIN).revokedAt).toBe(revokedAt);
    expect(store.keys.find(b.secret)?.revokedAt).toBeNull();
    expect(store.keys.revokedSince(revokedAt)).toEqual([a.key.id]);
    expect(store.keys.revokedSince(harness.clock.iso())).toEqual([]);

    // Two keys with one prefix (a made key has 4 random characters in it: it happens): the prefix is no name.
    store.keys.syncEnvKeys(['shared-prefix-key-one-01', 'shared-prefix-key-two-02']);
    const twins = store.keys.list().filter((key) => key.prefix === 'shared-p');
    expect(twins).toHaveLength(2);
    expect(() => store.keys.revoke('shared-p', ADMIN)).toThrow(AmbiguousKeyError);
    for (const twin of twins) expect(() => store.keys.revoke('shared-p', ADMIN)).toThrow(twin.id);
    expect(store.keys.list().filter((key) => key.revokedAt !== null).map((key) => key.id)).toEqual([a.key.id]);
  });

  it('writes key.created and key.revoked to the audit trail with the actor, never the key', () => {
    const { key, secret } = store.keys.create({ name: 'Alice', role: 'replier' }, ADMIN);
    store.keys.revoke(key.id, { keyId: null, name: 'cli' });
    const { items } = store.audit.list({ limit: 10 });
    expect(items.map((e) => [e.action, e.actor, e.target])).toEqual([
      ['key.revoked', { keyId: null, name: 'cli' }, key.id],
      ['key.created', ADMIN, key.id],
    ]);
    expect(items[1]!.details).toEqual({ name: 'Alice', role: 'replier', prefix: key.prefix });
    expect(JSON.stringify(items)).not.toContain(secret.slice(8));
  });

  it('keeps RELAY_API_KEYS in step: admin keys named "env key N"; one taken out is revoked; one revoked stays revoked', () => {
    const [one, two] = ['first-configured-key-0123', 'second-configured-key-0123'];
    expect(store.keys.syncEnvKeys([one, two])).toEqual({ added: 2, revoked: 0, stillRevoked: [] });
    expect(store.keys.find(one)).toMatchObject({ name: 'env key 1', role: 'admin', prefix: one.slice(0, 8), revokedAt: null });
    expect(store.keys.find(two)).toMatchObject({ name: 'env key 2', role: 'admin' });
    // A restart with the same keys changes nothing.
    expect(store.keys.syncEnvKeys([one, two])).toEqual({ added: 0, revoked: 0, stillRevoked: [] });
    expect(store.keys.list()).toHaveLength(2);

    expect(store.keys.syncEnvKeys([two])).toEqual({ added: 0, revoked: 1, stillRevoked: [] });
    expect(store.keys.find(one)?.revokedAt).not.toBeNull();
    expect(store.keys.find(two)?.revokedAt).toBeNull();

    store.keys.revoke(store.keys.find(two)!.id, ADMIN);
    expect(store.keys.syncEnvKeys([two])).toEqual({ added: 0, revoked: 0, stillRevoked: ['env key 2'] });
    expect(store.keys.find(two)?.revokedAt).not.toBeNull();
    // Put back in the environment, a revoked env key does not come back either (it is the same key).
    expect(store.keys.syncEnvKeys([one, two]).added).toBe(0);
    expect(store.keys.find(one)?.revokedAt).not.toBeNull();
  });

  it('tells its listeners of each key it revokes, once the revocation has committed, and only once', () => {
    const heard: Array<[string, string | null]> = [];
    store.keys.onRevoked((id) => heard.push([id, store.keys.get(id)!.revokedAt]));
    const { key } = store.keys.create({ name: 'Alice', role: 'viewer' }, ADMIN);
    store.keys.revoke(key.id, ADMIN);
    store.keys.revoke(key.id, ADMIN);
    expect(heard).toEqual([[key.id, harness.clock.iso()]]);
    store.keys.syncEnvKeys(['configured-key-0123456789']);
    const env = store.keys.find('configured-key-0123456789')!;
    store.keys.syncEnvKeys([]);
    expect(heard.map(([id]) => id)).toEqual([key.id, env.id]);
    expect(store.keys.revokedSince(harness.clock.iso())).toEqual(expect.arrayContaining([key.id, env.id]));
  });
});
