import { createHash } from 'node:crypto';
import type { StoreContext } from './context.js';
import { IdempotencyMismatchError } from './errors.js';
import { toIso, type TimeInput } from './time.js';

/** The hash an Idempotency-Key is bound to: sha256 of the body in its one canonical form. */
export function hashReplyBody(body: { status: string }): string {
  return createHash('sha256').update(JSON.stringify({ status: body.status })).digest('hex');
}

export interface IdempotencyKeys {
  /**
   * The reply id an earlier call with this key produced, or undefined for a new key. Throws
   * IdempotencyMismatchError when the key was used for another request or another body.
   */
  find(key: string, requestId: string, bodyHash: string): number | undefined;
  remember(key: string, requestId: string, bodyHash: string, replyId: number): void;
  /** Forgets keys created before `olderThan`; returns how many. */
  prune(olderThan: TimeInput): number;
}

export function createIdempotencyKeys(ctx: StoreContext): IdempotencyKeys {
  const { db } = ctx;
  const select = db.prepare<[string], { request_id: string; body_hash: string; reply_id: number }>(
    'SELECT request_id, body_hash, reply_id FROM idempotency_keys WHERE key = ?',
  );
  const insert = db.prepare<[string, string, string, number, string]>(
    'INSERT INTO idempotency_keys (key, request_id, body_hash, reply_id, created_at) VALUES (?, ?, ?, ?, ?)',
  );
  const deleteOlder = db.prepare<[string]>('DELETE FROM idempotency_keys WHERE created_at < ?');

  return {
    find(key, requestId, bodyHash) {
      const row = select.get(key);
      if (row === undefined) return undefined;
      if (row.request_id !== requestId || row.body_hash !== bodyHash) throw new IdempotencyMismatchError();
      return row.reply_id;
    },
    remember(key, requestId, bodyHash, replyId) {
      insert.run(key, requestId, bodyHash, replyId, ctx.now());
    },
    prune(olderThan) {
      return deleteOlder.run(toIso(olderThan)).changes;
    },
  };
}
