import type { Reply, ReplyState } from '../../shared/models.js';
import type { ReplyCode, VersionRules } from '../../shared/status.js';
import type { Actor, Audit } from './audit.js';
import type { StoreContext } from './context.js';
import type { Db } from './db.js';
import type { Connections } from './connections.js';
import { ReplyClaimedError } from './errors.js';
import type { EventLog } from './events.js';
import { hashReplyBody, type IdempotencyKeys } from './idempotency.js';
import { REPLY_COLUMNS, toApiReply, toOutboxReply, type OutboxReply, type ReplyRow } from './mapping.js';
import { createReplyExchange, type ReplyExchange } from './reply-exchange.js';
import type { ReplyClaims } from './reply-claims.js';
import { replyRows } from './reply-rows.js';
import { DUE_WHERE, REPLY_SQL, type AttemptParams, type DoneParams } from './reply-sql.js';
import { checkEnqueue, countsOf, dueLimit, evidence, sentChanges } from './reply-rules.js';
import type { Requests } from './requests.js';
import type { RelayState } from './state.js';
import { addMs, toIso, type TimeInput } from './time.js';

export { requestTokenSha256 } from './reply-rules.js';

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
  /**
   * The attempt may have reached Concur (a timeout, a cut connection, a 5xx from behind a gateway):
   * the reply stays in doubt and is read back before anything is sent again. Default false: Concur
   * surely did not apply it (503, 429, a refused token or connection), and the doubt is cleared.
   */
  inDoubt?: boolean;
}

/** What Concur showed of a request, as a read-back saw it: the evidence for the next attempt. */
export interface SeenAtConcur {
  requestToken: string | null;
  lastModified: string | null;
}

/** Who asks for a reply, and the Idempotency-Key their call carried, if any. */
export interface ReplyBy {
  actor: Actor;
  idempotencyKey?: string;
}

export interface Replies extends ReplyExchange {
  /**
   * Queues a reply asked for by `by.actor` (its name becomes the reply's requestedBy; the audit
   * trail gets `reply.requested`). Throws IdempotencyMismatchError, UnknownRequestError,
   * ReplyInFlightError, ExchangeUnavailableError (a CRSUC while the summary's exchange is
   * unavailable) or RetryLimitError (checked in that order).
   */
  enqueue(requestId: string, status: ReplyCode, by: ReplyBy): EnqueueResult;
  /**
   * What the outbox has to do now, oldest first: queued replies whose time has come, replies left
   * `exchanging` (their exchange's answer was never stored), and waiting replies whose request a
   * poll has given a new request token. Claims what it returns for this relay until `now` plus the
   * lease (reply-claims.ts); a reply another relay holds is left out until its lease ends.
   */
  due(now: TimeInput, limit: number): OutboxReply[];
  /** When `due` will next have something for this relay (a reply another relay holds: when its lease ends). */
  nextDueAt(): string | null;
  get(replyId: number): OutboxReply | undefined;
  /**
   * Records that an attempt (a PUT) starts, and renews this relay's claim. Throws
   * ReplyClaimedError while another relay holds the reply: nothing is to be sent then.
   */
  markAttemptStarted(replyId: number, seen?: SeenAtConcur): OutboxReply;
  markAttempt(replyId: number, attempt: AttemptUpdate): OutboxReply;
  /**
   * Concur took the PUT: `sent`, and the request moves to the reply's group. A CRRET sent on a
   * CRSUC's way goes to `waiting_token` instead: the CRSUC goes on when a poll brings the new token.
   */
  markSent(replyId: number): OutboxReply;
  markFailed(replyId: number, lastError: string): OutboxReply;
  counts(): Record<ReplyState, number>;
  /** Replies on their way: queued, exchanging or waiting for a new token. */
  pendingCount(): number;
}

/** The statements of the replies table (and what a reply changes of its request), prepared once. */
function prepare(db: Db) {
  const q = REPLY_SQL;
  return {
    selectRequest: db.prepare<[{ id: string }], { retries: number; user_errors: number }>(q.selectRequest),
    selectOnItsWay: db.prepare<[{ id: string }], { id: number }>(q.selectOnItsWay),
    insert: db.prepare<[{ request_id: string; status: string; now: string; by: string }]>(q.insert),
    // One statement: what is due is claimed as it is read, under the file's write lock.
    claimDue: db.prepare<[{ now: string; limit: number; me: string; until: string }], ReplyRow>(`
      UPDATE replies SET claimed_by = @me, lease_until = @until
      WHERE id IN (SELECT id FROM replies WHERE ${DUE_WHERE} ORDER BY id LIMIT @limit)
      RETURNING ${REPLY_COLUMNS}`),
    selectNextDue: db.prepare<[{ now: string; me: string }], { at: string | null }>(q.selectNextDue),
    selectEvidence: db.prepare<[{ id: string }], { request_token_sha256: string | null; concur_last_modified: string | null }>(q.selectEvidence),
    updateStarted: db.prepare<[{ id: number; now: string; token: string | null; lm: string | null; me: string; until: string }]>(q.updateStarted),
    updateAttempt: db.prepare<[AttemptParams]>(q.updateAttempt),
    updateAttemptInDoubt: db.prepare<[AttemptParams]>(q.updateAttemptInDoubt),
    updateDone: db.prepare<[DoneParams]>(q.updateDone),
    updateRequestAfterSent: db.prepare<[{ id: string; status: string; retry: number; user_error: number; now: string }]>(q.updateRequestAfterSent),
    selectCounts: db.prepare<[], { state: string; n: number }>(q.selectCounts),
    selectPending: db.prepare<[], { n: number }>(q.selectPending),
  };
}

/**
 * The outbox. A reply is written here before the API answers 202 and stays on its way (queued;
 * for a CRSUC also exchanging and waiting_token, see reply-exchange.ts) until the worker marks it
 * `sent` (Concur answered 204) or `failed` (a final 400/404). Each change appends a
 * `reply.updated` event in the same transaction; a sent reply also moves its request.
 *
 * Before each PUT the worker records that an attempt starts (markAttemptStarted), with what it
 * knows of the request; storing the outcome clears that again. A queued reply that still has it
 * is in doubt (the relay died in between, or could not store the outcome). That marker changes
 * nothing a client sees, so it announces nothing and leaves updated_at alone.
 *
 * Which relay works on a reply, and until when, is its claim (reply-claims.ts): `due` takes it,
 * markAttemptStarted (and markExchanging) renew it, an outcome releases it.
 */
export function createReplies(
  ctx: StoreContext,
  events: EventLog,
  parts: {
    requests: Pick<Requests, 'get'>;
    keys: IdempotencyKeys;
    audit: Pick<Audit, 'append'>;
    connections: Pick<Connections, 'create'>;
    state: Pick<RelayState, 'exchangeStatus'>;
    /** The member id the directory named for a request (matches.ts), kept on its connection. */
    memberIdOf?: (requestId: string) => string | null;
  },
  /** The relay's Concur API version's limits (shared/status.ts RETRY_LIMITS): one retry more is refused; and its tokens' assumed lifetime. */
  limits: VersionRules,
  claims: ReplyClaims,
): Replies {
  const { requests, keys, audit, connections, state } = parts;
  const sql = prepare(ctx.db);
  const me = claims.relayId;
  const leaseFrom = (now: string) => addMs(now, claims.leaseMs);
  const rows = replyRows(ctx, events);
  const { load, announce } = rows;
  const changeQueued = (replyId: number, change: (reply: OutboxReply, now: string) => void) => rows.change(replyId, ['queued'], change);

  return {
    ...createReplyExchange(ctx, rows, connections, limits, claims, parts.memberIdOf),

    enqueue(requestId, status, { actor, idempotencyKey }) {
      return ctx.tx(() => {
        const bodyHash = hashReplyBody({ status });
        if (idempotencyKey !== undefined) {
          const earlier = keys.find(idempotencyKey, requestId, bodyHash);
          if (earlier !== undefined) {
            return { reply: toApiReply(load(earlier)), replyId: earlier, repeated: true };
          }
        }
        const request = sql.selectRequest.get({ id: requestId });
        const inFlight = request === undefined ? undefined : sql.selectOnItsWay.get({ id: requestId });
        const exchange = request !== undefined && inFlight === undefined && status === 'CRSUC' ? state.exchangeStatus() : undefined;
        checkEnqueue(requestId, status, request, inFlight, exchange, limits);
        const replyId = Number(sql.insert.run({ request_id: requestId, status, now: ctx.now(), by: actor.name }).lastInsertRowid);
        if (idempotencyKey !== undefined) keys.remember(idempotencyKey, requestId, bodyHash, replyId);
        audit.append({ actor, action: 'reply.requested', target: requestId, details: { status, replyId } });
        const reply = load(replyId);
        announce(reply);
        return { reply: toApiReply(reply), replyId, repeated: false };
      });
    },

    due(now, limit) {
      const at = toIso(now);
      const due = sql.claimDue.all({ now: at, limit: dueLimit(limit), me, until: leaseFrom(at) });
      // RETURNING promises no order: oldest first again.
      return due.sort((a, b) => a.id - b.id).flatMap((row) => toOutboxReply(row) ?? []);
    },

    nextDueAt() {
      return sql.selectNextDue.get({ now: ctx.now(), me })?.at ?? null;
    },

    get: rows.find,

    markAttemptStarted(replyId, seen) {
      return ctx.tx(() => {
        const reply = load(replyId);
        if (reply.state !== 'queued') return reply;
        const now = ctx.now();
        const known = evidence(seen ?? sql.selectEvidence.get({ id: reply.requestId }));
        if (sql.updateStarted.run({ id: replyId, now, ...known, me, until: leaseFrom(now) }).changes === 0) throw new ReplyClaimedError(replyId);
        return load(replyId);
      });
    },

    markAttempt(replyId, { attempts, nextAttemptAt, lastError, inDoubt = false }) {
      return changeQueued(replyId, (_reply, now) => {
        const row = { id: replyId, attempts, next: toIso(nextAttemptAt), error: lastError, now, me };
        (inDoubt ? sql.updateAttemptInDoubt : sql.updateAttempt).run(row);
      });
    },

    markSent(replyId) {
      return ctx.tx(() => {
        const before = load(replyId);
        const sent = changeQueued(replyId, (reply, now) => {
          // A CRRET on a CRSUC's way: Concur issues a new token, and the CRSUC waits for it.
          const waits = reply.status === 'CRRET' && reply.requestedStatus === 'CRSUC';
          sql.updateDone.run({ id: replyId, state: waits ? 'waiting_token' : 'sent', error: null, now, me });
          sql.updateRequestAfterSent.run({ id: reply.requestId, status: reply.status, ...sentChanges(reply.status), now });
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
        sql.updateDone.run({ id: replyId, state: 'failed', error: lastError, now, me });
      });
    },

    counts() {
      return countsOf(sql.selectCounts.all());
    },

    pendingCount() {
      return sql.selectPending.get()?.n ?? 0;
    },
  };
}
