import { DeliveryState, type Delivery } from '../../shared/models.js';
import type { Db } from './db.js';
import { BadCursorError } from './errors.js';
import { claimableSql, releaseClaimSql } from './reply-claims.js';
import { MESSAGE_TYPES } from './webhook-messages.js';

/** How a delivery is kept in the `deliveries` table: its row, the statements, the row → model mapping, its cursor. */

export interface DeliveryRow {
  seq: number;
  id: string;
  webhook_id: string;
  message_id: string;
  type: string;
  body_bytes: number;
  state: string;
  attempts: number;
  chain: number;
  chain_attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  updated_at: string;
}

const DELIVERY_COLUMNS =
  'seq, id, webhook_id, message_id, type, body_bytes, state, attempts, chain, chain_attempts, last_status, last_error, next_attempt_at, created_at, updated_at';

export function toDelivery(row: DeliveryRow): Delivery | undefined {
  const type = MESSAGE_TYPES.find((known) => known === row.type);
  const state = DeliveryState.safeParse(row.state);
  if (type === undefined || !state.success) return undefined;
  return {
    id: row.id,
    webhookId: row.webhook_id,
    messageId: row.message_id,
    type,
    state: state.data,
    attempts: row.attempts,
    lastStatus: row.last_status,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
    updatedAt: row.updated_at,
  };
}

export function encodeCursor(seq: number): string {
  return Buffer.from(String(seq), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): number {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) throw new BadCursorError();
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[1-9]\d{0,14}$/.test(text)) throw new BadCursorError();
  return Number(text);
}

const RESTART_CHAIN = "state = 'pending', chain = chain + 1, chain_attempts = 0, next_attempt_at = @now, updated_at = @now";

/**
 * What `due` hands relay @me at @now: the oldest due delivery of each enabled endpoint (one slow
 * endpoint never holds up another), unless another relay holds a live claim on it or on another
 * pending delivery of that endpoint (one delivery per endpoint in flight, across relays too).
 * Read as `d` joined to its webhook `w`.
 */
export const DUE_WHERE = `d.state = 'pending' AND d.next_attempt_at <= @now AND w.state = 'enabled'
  AND d.seq = (SELECT x.seq FROM deliveries x
               WHERE x.webhook_id = d.webhook_id AND x.state = 'pending' AND x.next_attempt_at <= @now
               ORDER BY x.next_attempt_at, x.seq LIMIT 1)
  AND ${claimableSql('@me', '@now')}
  AND NOT EXISTS (SELECT 1 FROM deliveries y WHERE y.webhook_id = d.webhook_id AND y.state = 'pending'
                  AND y.claimed_by <> @me AND y.lease_until > @now)`;

/** A due delivery's columns, with its endpoint's URL. */
export const DUE_COLUMNS = `d.seq, d.id, d.webhook_id, d.message_id, d.type, d.body, d.body_bytes, d.state, d.attempts, d.chain,
  d.chain_attempts, d.last_status, d.last_error, d.next_attempt_at, d.created_at, d.updated_at, w.url`;

export type DueRow = DeliveryRow & { url: string; body: string };

/**
 * The deliveries table's statements, written once for both databases (SQLite prepares them,
 * postgres/deliveries.ts binds them with `named`). Where the two must differ (claiming what is
 * due) each has its own around DUE_WHERE.
 */
export const DELIVERY_SQL = {
  insert: `
    INSERT INTO deliveries (id, webhook_id, message_id, type, body, body_bytes, state, attempts, chain, chain_attempts,
                            last_status, last_error, next_attempt_at, created_at, updated_at)
    VALUES (@id, @webhook, @message, @type, @body, @bytes, @state, 0, 1, 0, NULL, @error, @next, @now, @now)`,
  select: `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = @id`,
  selectPage: `
    SELECT ${DELIVERY_COLUMNS} FROM deliveries
    WHERE webhook_id = @webhook AND (CAST(@state AS TEXT) IS NULL OR state = @state) AND seq < @before
    ORDER BY seq DESC LIMIT @limit`,
  restart: `UPDATE deliveries SET ${RESTART_CHAIN} WHERE seq = @seq`,
  restartFailed: `
    UPDATE deliveries SET ${RESTART_CHAIN}
    WHERE webhook_id = @webhook AND state = 'failed' AND created_at >= @since AND body_bytes <= @max`,
  failPending: `
    UPDATE deliveries SET state = 'failed', next_attempt_at = NULL, last_error = @error, updated_at = @now
    WHERE webhook_id = @webhook AND state = 'pending'`,
  selectDue: `
    SELECT ${DUE_COLUMNS} FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE ${DUE_WHERE} ORDER BY d.next_attempt_at, d.seq LIMIT @limit`,
  claim: 'UPDATE deliveries SET claimed_by = @me, lease_until = @until WHERE seq = @seq',
  // A delivery another relay holds is due, for this one, when that relay's lease ends.
  selectNextDue: `
    SELECT MIN(at) AS at FROM (
      SELECT CASE WHEN d.claimed_by <> @me AND d.lease_until > d.next_attempt_at THEN d.lease_until ELSE d.next_attempt_at END AS at
      FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
      WHERE d.state = 'pending' AND w.state = 'enabled') AS due
    WHERE at > @after`,
  updateAfterAttempt: `
    UPDATE deliveries SET state = @state, attempts = attempts + 1, chain_attempts = chain_attempts + @chainStep,
           last_status = @status, last_error = @error, next_attempt_at = @next, updated_at = @now, ${releaseClaimSql('@me')}
    WHERE seq = @seq`,
  selectCounts: 'SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state',
  deleteFinished: "DELETE FROM deliveries WHERE state IN ('succeeded', 'failed') AND updated_at < @before",
} as const;

export type InsertParams = { id: string; webhook: string; message: string; type: string; body: string; bytes: number; state: string; error: string | null; next: string | null; now: string };
export type PageParams = { webhook: string; state: string | null; before: number; limit: number };
export type UpdateAfterAttemptParams = { seq: number; state: string; status: number | null; error: string | null; next: string | null; now: string; chainStep: number; me: string };

/** The statements of the deliveries table, prepared once. */
export function prepareDeliveries(db: Db) {
  const q = DELIVERY_SQL;
  return {
    insert: db.prepare<[InsertParams]>(q.insert),
    select: db.prepare<[{ id: string }], DeliveryRow>(q.select),
    selectPage: db.prepare<[PageParams], DeliveryRow>(q.selectPage),
    restart: db.prepare<[{ seq: number; now: string }]>(q.restart),
    restartFailed: db.prepare<[{ webhook: string; since: string; max: number; now: string }]>(q.restartFailed),
    failPending: db.prepare<[{ webhook: string; error: string; now: string }]>(q.failPending),
    selectDue: db.prepare<[{ now: string; limit: number; me: string }], DueRow>(q.selectDue),
    claim: db.prepare<[{ seq: number; me: string; until: string }]>(q.claim),
    selectNextDue: db.prepare<[{ after: string; me: string }], { at: string | null }>(q.selectNextDue),
    updateAfterAttempt: db.prepare<[UpdateAfterAttemptParams]>(q.updateAfterAttempt),
    selectCounts: db.prepare<[], { state: string; n: number }>(q.selectCounts),
    deleteFinished: db.prepare<[{ before: string }]>(q.deleteFinished),
  };
}

export type DeliveryStatements = ReturnType<typeof prepareDeliveries>;
