import { DeliveryState, type Delivery } from '../../shared/models.js';
import type { Db } from './db.js';
import { BadCursorError } from './errors.js';
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

/** The statements of the deliveries table, prepared once. */
export function prepareDeliveries(db: Db) {
  const restartChain = "state = 'pending', chain = chain + 1, chain_attempts = 0, next_attempt_at = @now, updated_at = @now";
  return {
    insert: db.prepare<
      [{ id: string; webhook: string; message: string; type: string; body: string; bytes: number; state: string; error: string | null; next: string | null; now: string }]
    >(`
      INSERT INTO deliveries (id, webhook_id, message_id, type, body, body_bytes, state, attempts, chain, chain_attempts,
                              last_status, last_error, next_attempt_at, created_at, updated_at)
      VALUES (@id, @webhook, @message, @type, @body, @bytes, @state, 0, 1, 0, NULL, @error, @next, @now, @now)`),
    select: db.prepare<[string], DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = ?`),
    selectPage: db.prepare<[{ webhook: string; state: string | null; before: number; limit: number }], DeliveryRow>(`
      SELECT ${DELIVERY_COLUMNS} FROM deliveries
      WHERE webhook_id = @webhook AND (@state IS NULL OR state = @state) AND seq < @before
      ORDER BY seq DESC LIMIT @limit`),
    restart: db.prepare<[{ seq: number; now: string }]>(`UPDATE deliveries SET ${restartChain} WHERE seq = @seq`),
    restartFailed: db.prepare<[{ webhook: string; since: string; max: number; now: string }]>(`
      UPDATE deliveries SET ${restartChain}
      WHERE webhook_id = @webhook AND state = 'failed' AND created_at >= @since AND body_bytes <= @max`),
    failPending: db.prepare<[{ webhook: string; error: string; now: string }]>(`
      UPDATE deliveries SET state = 'failed', next_attempt_at = NULL, last_error = @error, updated_at = @now
      WHERE webhook_id = @webhook AND state = 'pending'`),
    // The oldest due delivery of each enabled endpoint: one slow endpoint never holds up another.
    selectDue: db.prepare<[{ now: string; limit: number }], DeliveryRow & { url: string; body: string }>(`
      SELECT d.seq, d.id, d.webhook_id, d.message_id, d.type, d.body, d.body_bytes, d.state, d.attempts, d.chain,
             d.chain_attempts, d.last_status, d.last_error, d.next_attempt_at, d.created_at, d.updated_at, w.url
      FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
      WHERE d.state = 'pending' AND d.next_attempt_at <= @now AND w.state = 'enabled'
        AND d.seq = (SELECT x.seq FROM deliveries x
                     WHERE x.webhook_id = d.webhook_id AND x.state = 'pending' AND x.next_attempt_at <= @now
                     ORDER BY x.next_attempt_at, x.seq LIMIT 1)
      ORDER BY d.next_attempt_at, d.seq LIMIT @limit`),
    selectNextDue: db.prepare<[string], { at: string | null }>(`
      SELECT MIN(d.next_attempt_at) AS at FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
      WHERE d.state = 'pending' AND w.state = 'enabled' AND d.next_attempt_at > ?`),
    updateAfterAttempt: db.prepare<
      [{ seq: number; state: string; status: number | null; error: string | null; next: string | null; now: string; chainStep: number }]
    >(`
      UPDATE deliveries SET state = @state, attempts = attempts + 1, chain_attempts = chain_attempts + @chainStep,
             last_status = @status, last_error = @error, next_attempt_at = @next, updated_at = @now
      WHERE seq = @seq`),
    selectCounts: db.prepare<[], { state: string; n: number }>('SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state'),
    deleteFinished: db.prepare<[string]>("DELETE FROM deliveries WHERE state IN ('succeeded', 'failed') AND updated_at < ?"),
  };
}


export type DeliveryStatements = ReturnType<typeof prepareDeliveries>;
