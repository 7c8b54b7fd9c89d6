import { DeliveryState, type Delivery } from '../../shared/models.js';
import type { AttemptRecord, OutgoingDelivery } from './deliveries.js';
import type { AttemptRow } from './delivery-attempts.js';
import type { DeliveryRow, DueRow, InsertParams, UpdateAfterAttemptParams } from './delivery-rows.js';
import { toIso } from './time.js';
import { MESSAGE_TYPES, type MessageType } from './webhook-messages.js';
import { newId } from './webhook-rows.js';

/** What deliveries decide, apart from the database: written once for SQLite's deliveries.ts and postgres/deliveries.ts. */

/** Messages over this many bytes are not sent: the delivery is stored as failed, saying why. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** A limit as the queries take it: a whole number ≥ 1. */
export function pageSize(limit: number): number {
  return Math.max(1, Math.trunc(Number.isFinite(limit) ? limit : 1));
}

function tooLargeMessage(bytes: number): string {
  return `the message is ${bytes} bytes, over the ${MAX_MESSAGE_BYTES / 1024} KiB limit for webhook messages; it was not sent`;
}

/** The row of one new delivery of `body` to `webhookId`; a body over the limit is stored as failed. */
export function newDelivery(webhookId: string, messageId: string, type: MessageType, body: string, now: string): InsertParams {
  const bytes = Buffer.byteLength(body, 'utf8');
  const tooLarge = bytes > MAX_MESSAGE_BYTES;
  return {
    id: newId('dlv'),
    webhook: webhookId,
    message: messageId,
    type,
    body: tooLarge ? '' : body,
    bytes,
    state: tooLarge ? 'failed' : 'pending',
    error: tooLarge ? tooLargeMessage(bytes) : null,
    next: tooLarge ? null : now,
    now,
  };
}

/** Why a webhook's pending deliveries fail when it is disabled. */
export function disabledError(reason: string): string {
  return `not sent: the webhook was disabled (${reason})`;
}

/** The state a delivery takes after an attempt, and whether the attempt moved its chain. */
function afterAttempt(row: DeliveryRow, record: AttemptRecord): { current: boolean; moves: boolean; next: string | null; state: string } {
  const current = row.state === 'pending' && row.chain === record.chain;
  const next = current && record.outcome === 'retry' && record.nextAttemptAt !== undefined ? toIso(record.nextAttemptAt) : null;
  // A success always counts (the endpoint has the message); a failure only moves the chain it was made for.
  const moves = current || record.outcome === 'succeeded';
  const state = moves ? (record.outcome === 'retry' ? (next === null ? 'failed' : 'pending') : record.outcome) : row.state;
  return { current, moves, next, state };
}

/** What recording `record` on `row` writes: the attempt's log line and the delivery's update (releasing relay `me`'s claim). */
export function attemptWrites(
  row: DeliveryRow,
  record: AttemptRecord,
  now: string,
  me: string,
): { attempt: AttemptRow; update: UpdateAfterAttemptParams; startedAt: string } {
  const { current, moves, next, state } = afterAttempt(row, record);
  const startedAt = toIso(record.startedAt);
  return {
    startedAt,
    attempt: {
      attempt: row.attempts + 1,
      started_at: startedAt,
      status: record.status,
      duration_ms: Math.max(0, Math.round(record.durationMs)),
      response_body: record.responseBody,
      error: record.error,
      next_attempt_at: next,
    },
    update: {
      seq: row.seq,
      state,
      status: record.status,
      error: record.outcome === 'succeeded' ? null : (record.lastError ?? record.error),
      next: moves ? next : row.next_attempt_at,
      now,
      chainStep: current ? 1 : 0,
      me,
    },
  };
}

/** The due rows as the worker takes them, oldest due first. */
export function toOutgoing(rows: readonly DueRow[]): OutgoingDelivery[] {
  const at = (row: DueRow): string => row.next_attempt_at ?? '';
  const ordered = [...rows].sort((a, b) => (at(a) < at(b) ? -1 : at(a) > at(b) ? 1 : a.seq - b.seq));
  return ordered.flatMap((row) => {
    const type = MESSAGE_TYPES.find((known) => known === row.type);
    if (type === undefined) return [];
    const { id, webhook_id: webhookId, url, message_id: messageId, body, chain, chain_attempts: chainAttempts } = row;
    return [{ id, webhookId, url, messageId, type, body, chain, chainAttempts }];
  });
}

export function countsOf(rows: ReadonlyArray<{ state: string; n: number }>): Record<Delivery['state'], number> {
  const counts: Record<Delivery['state'], number> = { pending: 0, succeeded: 0, failed: 0 };
  for (const { state, n } of rows) {
    const known = DeliveryState.safeParse(state);
    if (known.success) counts[known.data] += n;
  }
  return counts;
}
