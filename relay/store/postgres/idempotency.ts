import type { IdempotencyKeys } from '../index.js';
import { IdempotencyMismatchError } from '../errors.js';
import { toIso } from '../time.js';
import type { PgContext } from './context.js';

/**
 * The PostgreSQL twin of idempotency.ts. Two relays remembering the same key at once: the primary
 * key refuses the second insert, as SQLite's does (the reply flow calls `remember` in the
 * transaction that queues the reply, so the loser's reply rolls back with it).
 */
export function createPgIdempotencyKeys(ctx: PgContext): IdempotencyKeys {
  return {
    async find(key, requestId, bodyHash) {
      const { rows } = await ctx.query<{ request_id: string; body_hash: string; reply_id: number }>(
        'SELECT request_id, body_hash, reply_id FROM idempotency_keys WHERE key = $1',
        [key],
      );
      const row = rows[0];
      if (row === undefined) return undefined;
      if (row.request_id !== requestId || row.body_hash !== bodyHash) throw new IdempotencyMismatchError();
      return row.reply_id;
    },
    async remember(key, requestId, bodyHash, replyId) {
      await ctx.query('INSERT INTO idempotency_keys (key, request_id, body_hash, reply_id, created_at) VALUES ($1, $2, $3, $4, $5)', [
        key,
        requestId,
        bodyHash,
        replyId,
        ctx.now(),
      ]);
    },
    async prune(olderThan) {
      const result = await ctx.query('DELETE FROM idempotency_keys WHERE created_at < $1', [toIso(olderThan)]);
      return result.rowCount ?? 0;
    },
  };
}
