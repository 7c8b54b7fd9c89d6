import type { Reply, ReplyState } from '../../shared/models.js';
import { MAX_RETRIES, type ReplyCode } from '../../shared/status.js';
import type { StoreContext } from './context.js';
import { ReplyInFlightError, RetryLimitError, UnknownReplyError, UnknownRequestError } from './errors.js';
import type { EventLog } from './events.js';
import { hashReplyBody, type IdempotencyKeys } from './idempotency.js';
import { REPLY_COLUMNS, toApiReply, toOutboxReply, type OutboxReply, type ReplyRow } from './mapping.js';
import type { Requests } from './requests.js';
import { toIso, type TimeInput } from './time.js';

export interface EnqueueResult {
  /** Exactly the API's Reply shape. */
  reply: Reply;
  replyId: number;
  /** True when an earlier call with the same Idempotency-Key made this reply; nothing new was queued. */
  repeated: boolean;
}

export interface AttemptUpdate {
  /** The number of attempts made so far, this one included. */
  attempts: number;
  nextAttemptAt: TimeInput;
  lastError: string | null;
}

export interface Replies {
  enqueue(requestId: string, status: ReplyCode, idempotencyKey?: string): EnqueueResult;
  due(now: TimeInput, limit: number): OutboxReply[];
  nextDueAt(): string | null;
  get(replyId: number): OutboxReply | undefined;
  markAttempt(replyId: number, attempt: AttemptUpdate): OutboxReply;
  markSent(replyId: number): OutboxReply;
  markFailed(replyId: number, lastError: string): OutboxReply;
  counts(): Record<ReplyState, number>;
  pendingCount(): number;
}

/**
 * The outbox. A reply is written here before the API answers 202 and stays `queued` until the
 * worker marks it `sent` (Concur answered 204) or `failed` (a final 400/404). Each change appends
 * a `reply.updated` event in the same transaction; a sent reply also moves its request.
 */
export function createReplies(
  ctx: StoreContext,
  events: EventLog,
  requests: Pick<Requests, 'get'>,
  keys: IdempotencyKeys,
): Replies {
  const { db } = ctx;

  const selectOne = db.prepare<[number], ReplyRow>(`SELECT ${REPLY_COLUMNS} FROM replies WHERE id = ?`);
  const selectRequest = db.prepare<[string], { retries: number }>('SELECT retries FROM requests WHERE id = ?');
  const selectQueued = db.prepare<[string], { id: number }>(
    "SELECT id FROM replies WHERE request_id = ? AND state = 'queued'",
  );
  const insert = db.prepare<[{ request_id: string; status: string; now: string }]>(`
    INSERT INTO replies (request_id, status, state, attempts, last_error, next_attempt_at, created_at, updated_at)
    VALUES (@request_id, @status, 'queued', 0, NULL, @now, @now, @now)`);
  const selectDue = db.prepare<[string, number], ReplyRow>(`
    SELECT ${REPLY_COLUMNS} FROM replies
    WHERE state = 'queued' AND next_attempt_at <= ?
    ORDER BY id LIMIT ?`);
  const selectNextDue = db.prepare<[], { at: string | null }>(
    "SELECT MIN(next_attempt_at) AS at FROM replies WHERE state = 'queued'",
  );
  const updateAttempt = db.prepare<[{ id: number; attempts: number; next: string; error: string | null; now: string }]>(`
    UPDATE replies SET attempts = @attempts, next_attempt_at = @next, last_error = @error, updated_at = @now
    WHERE id = @id AND state = 'queued'`);
  const updateDone = db.prepare<[{ id: number; state: ReplyState; error: string | null; now: string }]>(`
    UPDATE replies SET state = @state, attempts = attempts + 1, next_attempt_at = NULL, last_error = @error,
           updated_at = @now
    WHERE id = @id AND state = 'queued'`);
  const updateRequestAfterSent = db.prepare<[{ id: string; status: string; retry: number; now: string }]>(`
    UPDATE requests SET status = @status, retries = retries + @retry, last_modified = @now, updated_at = @now
    WHERE id = @id`);
  const selectCounts = db.prepare<[], { state: string; n: number }>(
    'SELECT state, COUNT(*) AS n FROM replies GROUP BY state',
  );
  const selectPending = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM replies WHERE state = 'queued'");

  function load(replyId: number): OutboxReply {
    const row = selectOne.get(replyId);
    const reply = row === undefined ? undefined : toOutboxReply(row);
    if (reply === undefined) throw new UnknownReplyError(replyId);
    return reply;
  }

  function announce(reply: OutboxReply): void {
    events.append('reply.updated', { requestId: reply.requestId, reply: toApiReply(reply) });
  }

  /** Runs `change` on a queued reply and announces the result; a reply that is no longer queued is returned as it is. */
  function changeQueued(replyId: number, change: (reply: OutboxReply, now: string) => void): OutboxReply {
    return ctx.tx(() => {
      const before = load(replyId);
      if (before.state !== 'queued') return before;
      change(before, ctx.now());
      const after = load(replyId);
      announce(after);
      return after;
    });
  }

  return {
    enqueue(requestId, status, idempotencyKey) {
      return ctx.tx(() => {
        const bodyHash = hashReplyBody({ status });
        if (idempotencyKey !== undefined) {
          const earlier = keys.find(idempotencyKey, requestId, bodyHash);
          if (earlier !== undefined) {
            return { reply: toApiReply(load(earlier)), replyId: earlier, repeated: true };
          }
        }
        const request = selectRequest.get(requestId);
        if (request === undefined) throw new UnknownRequestError(requestId);
        const inFlight = selectQueued.get(requestId);
        if (inFlight !== undefined) throw new ReplyInFlightError(requestId, inFlight.id);
        if (status === 'CRRET' && request.retries >= MAX_RETRIES) {
          throw new RetryLimitError(requestId, request.retries, MAX_RETRIES);
        }
        const replyId = Number(insert.run({ request_id: requestId, status, now: ctx.now() }).lastInsertRowid);
        if (idempotencyKey !== undefined) keys.remember(idempotencyKey, requestId, bodyHash, replyId);
        const reply = load(replyId);
        announce(reply);
        return { reply: toApiReply(reply), replyId, repeated: false };
      });
    },

    due(now, limit) {
      const rows = selectDue.all(toIso(now), Math.max(1, Math.trunc(Number.isFinite(limit) ? limit : 1)));
      return rows.flatMap((row) => toOutboxReply(row) ?? []);
    },

    nextDueAt() {
      return selectNextDue.get()?.at ?? null;
    },

    get(replyId) {
      const row = selectOne.get(replyId);
      return row === undefined ? undefined : toOutboxReply(row);
    },

    markAttempt(replyId, { attempts, nextAttemptAt, lastError }) {
      return changeQueued(replyId, (_reply, now) => {
        updateAttempt.run({ id: replyId, attempts, next: toIso(nextAttemptAt), error: lastError, now });
      });
    },

    markSent(replyId) {
      return ctx.tx(() => {
        const before = load(replyId);
        const sent = changeQueued(replyId, (reply, now) => {
          updateDone.run({ id: replyId, state: 'sent', error: null, now });
          updateRequestAfterSent.run({
            id: reply.requestId,
            status: reply.status,
            retry: reply.status === 'CRRET' ? 1 : 0,
            now,
          });
        });
        if (before.state === 'queued') {
          const request = requests.get(sent.requestId);
          if (request !== undefined) events.append('request.updated', request);
        }
        return sent;
      });
    },

    markFailed(replyId, lastError) {
      return changeQueued(replyId, (_reply, now) => {
        updateDone.run({ id: replyId, state: 'failed', error: lastError, now });
      });
    },

    counts() {
      const counts: Record<ReplyState, number> = { queued: 0, sent: 0, failed: 0 };
      for (const { state, n } of selectCounts.all()) {
        if (state === 'queued' || state === 'sent' || state === 'failed') counts[state] += n;
      }
      return counts;
    },

    pendingCount() {
      return selectPending.get()?.n ?? 0;
    },
  };
}
