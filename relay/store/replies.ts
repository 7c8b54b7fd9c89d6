import { ReplyState, type Reply } from '../../shared/models.js';
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
import { claimableSql, releaseClaimSql, type ReplyClaims } from './reply-claims.js';
import { replyRows } from './reply-rows.js';
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

/** The states of a reply on its way (at most one per request). */
const ON_ITS_WAY = "'queued', 'exchanging', 'waiting_token'";
/** A waiting reply goes on once a poll brought a request token issued at another time than the one its exchange tried. */
const NEW_TOKEN_CAME = `state = 'waiting_token' AND EXISTS (SELECT 1 FROM requests q WHERE q.id = replies.request_id
  AND q.request_token_issued_at IS NOT NULL AND q.request_token_issued_at IS NOT replies.token_issued_at)`;
const CLAIMABLE = claimableSql('@me', '@now');

/** The statements of the replies table (and what a reply changes of its request), prepared once. */
function prepare(db: Db) {
  const selectRequest = db.prepare<[string], { retries: number; user_errors: number }>('SELECT retries, user_errors FROM requests WHERE id = ?');
  const selectOnItsWay = db.prepare<[string], { id: number }>(
    `SELECT id FROM replies WHERE request_id = ? AND state IN (${ON_ITS_WAY})`,
  );
  const insert = db.prepare<[{ request_id: string; status: string; now: string; by: string }]>(`
    INSERT INTO replies (request_id, status, requested_status, state, attempts, last_error, next_attempt_at, created_at, updated_at, requested_by)
    VALUES (@request_id, @status, @status, 'queued', 0, NULL, @now, @now, @now, @by)`);
  // One statement: what is due is claimed as it is read (on SQLite the file's write lock, on
  // PostgreSQL FOR UPDATE SKIP LOCKED keeps two relays from claiming the same reply).
  const claimDue = db.prepare<[{ now: string; limit: number; me: string; until: string }], ReplyRow>(`
    UPDATE replies SET claimed_by = @me, lease_until = @until
    WHERE id IN (SELECT id FROM replies
      WHERE ((state IN ('queued', 'exchanging') AND next_attempt_at <= @now) OR (${NEW_TOKEN_CAME})) AND ${CLAIMABLE}
      ORDER BY id LIMIT @limit)
    RETURNING ${REPLY_COLUMNS}`);
  // A waiting reply whose new token has come is due now; a reply another relay holds, when its lease ends.
  const selectNextDue = db.prepare<[{ now: string; me: string }], { at: string | null }>(`
    SELECT MIN(CASE WHEN claimed_by IS NOT @me AND lease_until > due_at THEN lease_until ELSE due_at END) AS at
    FROM (SELECT CASE WHEN state = 'waiting_token' THEN @now ELSE next_attempt_at END AS due_at, claimed_by, lease_until
          FROM replies WHERE state IN ('queued', 'exchanging') OR (${NEW_TOKEN_CAME}))`);
  // The token's hash, kept beside the sealed token: the evidence never needs the token opened.
  const selectEvidence = db.prepare<[string], { request_token_sha256: string | null; concur_last_modified: string | null }>(
    'SELECT request_token_sha256, concur_last_modified FROM requests WHERE id = ?',
  );
  const updateStarted = db.prepare<[{ id: number; now: string; token: string | null; lm: string | null; me: string; until: string }]>(`
    UPDATE replies SET attempt_started_at = @now, attempt_token_sha256 = @token, attempt_last_modified = @lm,
           claimed_by = @me, lease_until = @until
    WHERE id = @id AND state = 'queued' AND ${CLAIMABLE}`);
  const clearDoubt = 'attempt_started_at = NULL, attempt_token_sha256 = NULL, attempt_last_modified = NULL';
  const release = releaseClaimSql('@me');
  type AttemptRow = { id: number; attempts: number; next: string; error: string | null; now: string; me: string };
  const updateAttempt = db.prepare<[AttemptRow]>(`
    UPDATE replies SET attempts = @attempts, next_attempt_at = @next, last_error = @error, updated_at = @now,
           ${clearDoubt}, ${release}
    WHERE id = @id AND state = 'queued'`);
  const updateAttemptInDoubt = db.prepare<[AttemptRow]>(`
    UPDATE replies SET attempts = @attempts, next_attempt_at = @next, last_error = @error, updated_at = @now, ${release}
    WHERE id = @id AND state = 'queued'`);
  // A reply sent in place of what was asked for (a CRRET on a CRSUC's way, a CRPA1 when no retries
  // were left) keeps the lastError that says why.
  const updateDone = db.prepare<[{ id: number; state: ReplyState; error: string | null; now: string; me: string }]>(`
    UPDATE replies SET state = @state, attempts = attempts + 1, next_attempt_at = NULL,
           last_error = CASE WHEN @state = 'failed' THEN @error WHEN status IS NOT requested_status THEN last_error ELSE NULL END,
           updated_at = @now, ${clearDoubt}, ${release}
    WHERE id = @id AND state = 'queued'`);
  const updateRequestAfterSent = db.prepare<[{ id: string; status: string; retry: number; user_error: number; now: string }]>(`
    UPDATE requests SET status = @status, retries = retries + @retry, user_errors = user_errors + @user_error,
           last_modified = @now, updated_at = @now
    WHERE id = @id`);
  const selectCounts = db.prepare<[], { state: string; n: number }>(
    'SELECT state, COUNT(*) AS n FROM replies GROUP BY state',
  );
  const selectPending = db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM replies WHERE state IN (${ON_ITS_WAY})`);

  return {
    selectRequest,
    selectOnItsWay,
    insert,
    claimDue,
    selectNextDue,
    selectEvidence,
    updateStarted,
    updateAttempt,
    updateAttemptInDoubt,
    updateDone,
    updateRequestAfterSent,
    selectCounts,
    selectPending,
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
        const request = sql.selectRequest.get(requestId);
        const inFlight = request === undefined ? undefined : sql.selectOnItsWay.get(requestId);
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
        const known = evidence(seen ?? sql.selectEvidence.get(reply.requestId));
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
