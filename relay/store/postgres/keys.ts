import { randomBytes } from 'node:crypto';
import type { ApiKey } from '../../../shared/people.js';
import type { Role } from '../../../shared/roles.js';
import { AmbiguousKeyError, UnknownKeyError } from '../errors.js';
import type { Actor, Audit, Keys } from '../index.js';
import { KEY_COLUMNS, KEY_PREFIX, keyDetails, LAST_USED_EVERY_MS, planEnvKeys, PREFIX_LENGTH, sha256, toKey, touchDue, type KeyRow } from '../key-rows.js';
import { toIso } from '../time.js';
import type { PgContext } from './context.js';
import { ADVISORY_LOCK } from './locks.js';
import type { PgNotices } from './notices.js';

/**
 * API keys on PostgreSQL (the twin of ../keys.ts). A key is looked up in the database on every
 * request, never cached, so a key revoked by any relay is refused by every relay from the commit
 * on. Each revocation is also NOTIFYed on KEY_REVOKED_CHANNEL in its transaction, so that every
 * relay's `onRevoked` listeners (which close the key's open event streams) hear it within moments,
 * not only this relay's.
 */

/** Carries the id of each key revoked, sent when the revocation commits. */
export const KEY_REVOKED_CHANNEL = 'triplink_key_revoked';

export async function createPgKeys(ctx: PgContext, audit: Pick<Audit, 'append'>, notices: PgNotices): Promise<Keys> {
  const listeners: Array<(keyId: string) => void> = [];
  /** Every revoked key this store knows of: each is told to the listeners once, however it was heard (a revocation is for good). */
  const told = new Set<string>();
  const tell = (keyId: string): void => {
    if (told.has(keyId)) return;
    told.add(keyId);
    for (const listener of listeners) listener(keyId);
  };
  const revokedIds = async (): Promise<string[]> =>
    (await ctx.query<{ id: string }>('SELECT id FROM api_keys WHERE revoked_at IS NOT NULL')).rows.map((row) => row.id);

  const one = async (where: string, value: string): Promise<KeyRow | undefined> =>
    (await ctx.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE ${where} = $1`, [value])).rows[0];
  const load = (row: KeyRow | undefined): ApiKey | undefined => (row === undefined ? undefined : toKey(row));

  async function add(name: string, role: Role, source: 'created' | 'env', secret: string): Promise<ApiKey> {
    const id = `key_${randomBytes(9).toString('base64url')}`;
    const { rows } = await ctx.query<KeyRow>(
      `INSERT INTO api_keys (id, name, role, prefix, key_sha256, source, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       RETURNING ${KEY_COLUMNS}`,
      [id, name, role, secret.slice(0, PREFIX_LENGTH), sha256(secret), source, ctx.now()],
    );
    return toKey(rows[0]!)!;
  }

  async function revokeRow(row: KeyRow, actor: Actor): Promise<ApiKey> {
    // Two relays revoking one key at once: the second's UPDATE waits for the first's row lock,
    // then finds it revoked and changes nothing, so there is one audit line and one notice.
    const { rows } = await ctx.query<KeyRow>(
      `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING ${KEY_COLUMNS}`,
      [ctx.now(), row.id],
    );
    if (rows.length === 0) return load(await one('id', row.id))!;
    await audit.append({ actor, action: 'key.revoked', target: row.id, details: keyDetails(row) });
    await ctx.query('SELECT pg_notify($1, $2)', [KEY_REVOKED_CHANNEL, row.id]);
    ctx.afterCommit(() => tell(row.id));
    return toKey(rows[0]!)!;
  }

  await notices.listen(KEY_REVOKED_CHANNEL, {
    notice: tell,
    // Revocations made while the connection was down were not heard: the ones not told yet are told now.
    reconnected: () => {
      revokedIds().then(
        (ids) => ids.forEach(tell),
        () => undefined, // the database is away again: the next reconnection reads them
      );
    },
  });
  // Listening first: a revocation committed from here on is either among these or heard.
  for (const id of await revokedIds()) told.add(id);

  return {
    create({ name, role }, actor) {
      return ctx.tx(async () => {
        const secret = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
        const key = await add(name, role, 'created', secret);
        await audit.append({ actor, action: 'key.created', target: key.id, details: keyDetails(key) });
        return { key, secret };
      });
    },

    async find(secret) {
      return load(await one('key_sha256', sha256(secret)));
    },

    async touch({ id, lastUsedAt }) {
      const now = ctx.clock();
      if (!touchDue(lastUsedAt, now)) return;
      await ctx.query('UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)', [
        ctx.now(),
        id,
        toIso(now - LAST_USED_EVERY_MS),
      ]);
    },

    async list() {
      const { rows } = await ctx.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC`);
      return rows.flatMap((row) => toKey(row) ?? []);
    },

    async get(id) {
      return load(await one('id', id));
    },

    revoke(idOrPrefix, actor) {
      return ctx.tx(async () => {
        const exact = await one('id', idOrPrefix);
        if (exact !== undefined) return revokeRow(exact, actor);
        const { rows } = await ctx.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE prefix = $1 ORDER BY created_at`, [idOrPrefix]);
        if (rows.length === 0) throw new UnknownKeyError(idOrPrefix);
        if (rows.length > 1) throw new AmbiguousKeyError(idOrPrefix, rows.map((row) => row.id));
        return revokeRow(rows[0]!, actor);
      });
    },

    syncEnvKeys(secrets) {
      return ctx.tx(async () => {
        // Relays starting at once with the same RELAY_API_KEYS: without the lock both would find
        // a key missing and add it, and the second would fail on the unique hash.
        await ctx.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCK.envKeys]);
        const actor: Actor = { keyId: null, name: 'RELAY_API_KEYS' };
        const stored = await ctx.query<KeyRow & { key_sha256: string }>(`SELECT ${KEY_COLUMNS}, key_sha256 FROM api_keys WHERE source = 'env'`);
        const plan = planEnvKeys(stored.rows, secrets);
        for (const row of plan.revoke) await revokeRow(row, actor);
        let added = 0;
        for (const { secret, n, hash } of plan.add) {
          // A configured key that was also made as a record keeps that record, name and role.
          if ((await one('key_sha256', hash)) !== undefined) continue;
          const key = await add(`env key ${n}`, 'admin', 'env', secret);
          await audit.append({ actor, action: 'key.created', target: key.id, details: keyDetails(key) });
          added++;
        }
        return { added, revoked: plan.revoke.length, stillRevoked: plan.stillRevoked };
      });
    },

    async revokedSince(since) {
      return (await ctx.query<{ id: string }>('SELECT id FROM api_keys WHERE revoked_at >= $1', [since])).rows.map((row) => row.id);
    },

    onRevoked(listener) {
      listeners.push(listener);
    },
  };
}
