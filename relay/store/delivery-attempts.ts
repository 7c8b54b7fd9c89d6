import type { DeliveryAttempt } from '../../shared/models.js';
import type { StoreContext } from './context.js';

/**
 * The log of every attempt at a delivery (the `delivery_attempts` table), written by deliveries.ts
 * as it records an attempt; its rows go with their delivery.
 */

/** The delivery log shows at most this many attempts per delivery (the newest). */
export const MAX_LOGGED_ATTEMPTS = 50;

export interface AttemptRow {
  attempt: number;
  started_at: string;
  status: number | null;
  duration_ms: number;
  response_body: string | null;
  error: string | null;
  next_attempt_at: string | null;
}

export interface DeliveryAttempts {
  /** Adds attempt `row.attempt` to the delivery with row number `seq`. */
  add(seq: number, row: AttemptRow): void;
  /** The newest attempts of a delivery (at most MAX_LOGGED_ATTEMPTS), oldest first. */
  logOf(seq: number): DeliveryAttempt[];
}

export function toAttempt(row: AttemptRow): DeliveryAttempt {
  return {
    attempt: row.attempt,
    at: row.started_at,
    status: row.status,
    durationMs: row.duration_ms,
    responseBody: row.response_body,
    error: row.error,
    nextAttemptAt: row.next_attempt_at,
  };
}

/** The attempts' statements, for both databases (postgres/deliveries.ts binds them with `named`). */
export const ATTEMPT_SQL = {
  insert: `
    INSERT INTO delivery_attempts (delivery_seq, attempt, started_at, status, duration_ms, response_body, error, next_attempt_at)
    VALUES (@seq, @attempt, @started_at, @status, @duration_ms, @response_body, @error, @next_attempt_at)`,
  selectLatest: `
    SELECT attempt, started_at, status, duration_ms, response_body, error, next_attempt_at FROM delivery_attempts
    WHERE delivery_seq = @seq ORDER BY attempt DESC LIMIT @limit`,
} as const;

export function createDeliveryAttempts(ctx: StoreContext): DeliveryAttempts {
  const insert = ctx.db.prepare<[AttemptRow & { seq: number }]>(ATTEMPT_SQL.insert);
  const selectLatest = ctx.db.prepare<[{ seq: number; limit: number }], AttemptRow>(ATTEMPT_SQL.selectLatest);

  return {
    add(seq, row) {
      insert.run({ ...row, seq });
    },
    logOf(seq) {
      return selectLatest.all({ seq, limit: MAX_LOGGED_ATTEMPTS }).reverse().map(toAttempt);
    },
  };
}
