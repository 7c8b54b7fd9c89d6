import { randomBytes } from 'node:crypto';
import type { ApiKey } from '../../shared/people.js';
import type { Role } from '../../shared/roles.js';
import type { Actor, Audit } from './audit.js';
import type { StoreContext } from './context.js';
import { AmbiguousKeyError, UnknownKeyError } from './errors.js';
import { KEY_COLUMNS as COLUMNS, KEY_PREFIX, keyDetails, LAST_USED_EVERY_MS, planEnvKeys, PREFIX_LENGTH, sha256, toKey, touchDue, type KeyRow } from './key-rows.js';
import { toIso } from './time.js';

export { KEY_PREFIX, sha256 };

/**
 * API keys as records: a name, a role, the first characters to tell keys apart, and the SHA-256
 * of the key — never the key, which is shown once, when it is made. A key is `trl_` and 32 random
 * bytes (base64url): a fast hash is right for that much randomness (as for GitHub's tokens), and
 * finding a key costs one hash and one indexed read however many keys there are.
 */

export interface NewKey {
  name: string;
  role: Role;
}

export interface Keys {
  /** A new key: its record, and the key itself (shown this once). Audited as `key.created`. */
  create(input: NewKey, actor: Actor): { key: ApiKey; secret: string };
  /** The key a presented secret is, revoked or not (the caller says which is refused), by its hash. */
  find(secret: string): ApiKey | undefined;
  /** Notes that a key was used now; writes only when its last use is more than a minute old. */
  touch(key: Pick<ApiKey, 'id' | 'lastUsedAt'>): void;
  /** Every key, newest first, revoked ones included. */
  list(): ApiKey[];
  get(id: string): ApiKey | undefined;
  /**
   * Revokes the key with this id, or the one key whose prefix this is. Audited as `key.revoked`;
   * a key already revoked is returned as it is. Throws UnknownKeyError, AmbiguousKeyError.
   */
  revoke(idOrPrefix: string, actor: Actor): ApiKey;
  /**
   * RELAY_API_KEYS in step with the store: each configured key is an admin key named `env key N`
   * (added when new); env keys no longer configured are revoked. A configured key that someone
   * revoked stays revoked (listed in `stillRevoked`): taking it out of the environment is the fix.
   */
  syncEnvKeys(secrets: readonly string[]): { added: number; revoked: number; stillRevoked: string[] };
  /** Ids of keys revoked at or after `since` (ISO time): whose open streams must close. */
  revokedSince(since: string): string[];
  /**
   * Adds a listener told the id of every key this store revokes, once the revocation has
   * committed (a key revoked by another process is found with `revokedSince`). It must not throw.
   */
  onRevoked(listener: (keyId: string) => void): void;
}

export function createKeys(ctx: StoreContext, audit: Pick<Audit, 'append'>): Keys {
  const { db } = ctx;
  const insert = db.prepare<[{ id: string; name: string; role: string; prefix: string; hash: string; source: string; now: string }]>(
    `INSERT INTO api_keys (id, name, role, prefix, key_sha256, source, created_at)
     VALUES (@id, @name, @role, @prefix, @hash, @source, @now)`,
  );
  const byHash = db.prepare<[string], KeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE key_sha256 = ?`);
  const byId = db.prepare<[string], KeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE id = ?`);
  const byPrefix = db.prepare<[string], KeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE prefix = ? ORDER BY created_at`);
  const all = db.prepare<[], KeyRow>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC`);
  const envRows = db.prepare<[], KeyRow & { key_sha256: string }>(`SELECT ${COLUMNS}, key_sha256 FROM api_keys WHERE source = 'env'`);
  const setRevoked = db.prepare<[string, string]>('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
  const setUsed = db.prepare<[string, string, string]>(
    'UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
  );
  const revokedAfter = db.prepare<[string], { id: string }>('SELECT id FROM api_keys WHERE revoked_at >= ?');

  const load = (row: KeyRow | undefined) => (row === undefined ? undefined : toKey(row));
  const revokedListeners: Array<(keyId: string) => void> = [];

  function add(name: string, role: Role, source: 'created' | 'env', secret: string): ApiKey {
    const id = `key_${randomBytes(9).toString('base64url')}`;
    insert.run({ id, name, role, prefix: secret.slice(0, PREFIX_LENGTH), hash: sha256(secret), source, now: ctx.now() });
    return load(byId.get(id))!;
  }

  function revokeRow(row: KeyRow, actor: Actor): ApiKey {
    if (setRevoked.run(ctx.now(), row.id).changes > 0) {
      audit.append({ actor, action: 'key.revoked', target: row.id, details: keyDetails(row) });
      ctx.afterCommit(() => {
        for (const listener of revokedListeners) listener(row.id);
      });
    }
    return load(byId.get(row.id))!;
  }

  return {
    create({ name, role }, actor) {
      return ctx.tx(() => {
        const secret = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
        const key = add(name, role, 'created', secret);
        audit.append({ actor, action: 'key.created', target: key.id, details: keyDetails(key) });
        return { key, secret };
      });
    },

    find(secret) {
      return load(byHash.get(sha256(secret)));
    },

    touch({ id, lastUsedAt }) {
      const now = ctx.clock();
      if (!touchDue(lastUsedAt, now)) return;
      setUsed.run(ctx.now(), id, toIso(now - LAST_USED_EVERY_MS));
    },

    list() {
      return all.all().flatMap((row) => toKey(row) ?? []);
    },

    get(id) {
      return load(byId.get(id));
    },

    revoke(idOrPrefix, actor) {
      return ctx.tx(() => {
        const exact = byId.get(idOrPrefix);
        if (exact !== undefined) return revokeRow(exact, actor);
        const matches = byPrefix.all(idOrPrefix);
        if (matches.length === 0) throw new UnknownKeyError(idOrPrefix);
        if (matches.length > 1) throw new AmbiguousKeyError(idOrPrefix, matches.map((row) => row.id));
        return revokeRow(matches[0]!, actor);
      });
    },

    syncEnvKeys(secrets) {
      return ctx.tx(() => {
        const actor: Actor = { keyId: null, name: 'RELAY_API_KEYS' };
        const plan = planEnvKeys(envRows.all(), secrets);
        for (const row of plan.revoke) revokeRow(row, actor);
        let added = 0;
        for (const { secret, n, hash } of plan.add) {
          // A configured key that was also made as a record keeps that record, name and role.
          if (byHash.get(hash) !== undefined) continue;
          const key = add(`env key ${n}`, 'admin', 'env', secret);
          audit.append({ actor, action: 'key.created', target: key.id, details: keyDetails(key) });
          added++;
        }
        return { added, revoked: plan.revoke.length, stillRevoked: plan.stillRevoked };
      });
    },

    revokedSince(since) {
      return revokedAfter.all(since).map((row) => row.id);
    },

    onRevoked(listener) {
      revokedListeners.push(listener);
    },
  };
}
