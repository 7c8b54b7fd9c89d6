import type { VersionRules } from '../../../shared/status.js';
import { ReplyClaimedError } from '../errors.js';
import { hashReplyBody } from '../idempotency.js';
import type { Audit, Awaitable, Connections, EventLog, IdempotencyKeys, RelayState, Replies, Requests } from '../index.js';
import { REPLY_COLUMNS, toApiReply, toOutboxReply, type OutboxReply, type ReplyRow } from '../mapping.js';
import type { ReplyClaims } from '../reply-claims.js';
import { checkEnqueue, countsOf, dueLimit, evidence, sentChanges } from '../reply-rules.js';
import { DUE_WHERE, REPLY_SQL, type AttemptParams, type DoneParams } from '../reply-sql.js';
import { addMs, toIso } from '../time.js';
import type { PgContext } from './context.js';
import { lockEvents } from './events.js';
import { named, type NamedStatement } from './named.js';
import { createPgReplyExchange } from './reply-exchange.js';
import { pgReplyRows } from './reply-rows.js';

/**
 * The outbox's claim on PostgreSQL: FOR UPDATE SKIP LOCKED lets relays calling `due` at the same
 * moment each take rows none of the others is taking, and the claim written in the same statement
 * keeps them away afterwards (READ COMMITTED: a row another relay claimed meanwhile is read again
 * once its lock is granted, and DUE_WHERE, evaluated again, leaves it out). RETURNING gives no
 * order; the caller sorts.
 */
const CLAIM_DUE = `
  WITH due AS (SELECT id AS claim FROM replies WHERE ${DUE_WHERE} ORDER BY id LIMIT @limit FOR UPDATE OF replies SKIP LOCKED)
  UPDATE replies SET claimed_by = @me, lease_until = @until FROM due WHERE replies.id = due.claim
  RETURNING ${REPLY_COLUMNS}`;

function statements() {
  const q = REPLY_SQL;
  return {
    selectRequest: named<{ id: string }>(`${q.selectRequest} FOR UPDATE`),
    selectOnItsWay: named<{ id: string }>(q.selectOnItsWay),
    insert: named<{ request_id: string; status: string; now: string; by: string }>(`${q.insert} RETURNING id`),
    claimDue: named<{ now: string; limit: number; me: string; until: string }>(CLAIM_DUE),
    selectNextDue: named<{ now: string; me: string }>(q.selectNextDue),
    selectEvidence: named<{ id: string }>(q.selectEvidence),
    updateStarted: named<{ id: number; now: string; token: string | null; lm: string | null; me: string; until: string }>(q.updateStarted),
    updateAttempt: named<AttemptParams>(q.updateAttempt),
    updateAttemptInDoubt: named<AttemptParams>(q.updateAttemptInDoubt),
    updateDone: named<DoneParams>(q.updateDone),
    updateRequestAfterSent: named<{ id: string; status: string; retry: number; user_error: number; now: string }>(q.updateRequestAfterSent),
  };
}

/**
 * The PostgreSQL twin of replies.ts (see there for the outbox's states, events and doubt), for
 * several relays on one database. What SQLite's single writer made safe is made safe here by the
 * events lock (events.ts): every write that announces a change takes it first, so queueing a
 * reply (is one on its way? how many retries?) and recording an outcome take turns across relays.
 * Which relay sends a reply is its claim (reply-claims.ts).
 */
export function createPgReplies(
  ctx: PgContext,
  events: Pick<EventLog, 'append'>,
  parts: {
    requests: Pick<Requests, 'get'>;
    keys: Pick<IdempotencyKeys, 'find' | 'remember'>;
    audit: Pick<Audit, 'append'>;
    connections: Pick<Connections, 'create'>;
    state: Pick<RelayState, 'exchangeStatus'>;
    /** The member id the directory named for a request (matches), kept on its connection. */
    memberIdOf?: (requestId: string) => Awaitable<string | null>;
  },
  limits: VersionRules,
  claims: ReplyClaims,
): Replies {
  const { requests, keys, audit, connections, state } = parts;
  const sql = statements();
  const rows = pgReplyRows(ctx, events);
  const { load, announce } = rows;
  const me = claims.relayId;
  const leaseFrom = (now: string) => addMs(now, claims.leaseMs);
  const one = async <R extends object, P extends object>(statement: NamedStatement<P>, params: P): Promise<R | undefined> =>
    (await ctx.query<R & Record<string, unknown>>(statement.text, statement.bind(params))).rows[0];
  const run = async <P extends object>(statement: NamedStatement<P>, params: P): Promise<number> =>
    (await ctx.query(statement.text, statement.bind(params))).rowCount ?? 0;
  const changeQueued = (replyId: number, change: (reply: OutboxReply, now: string) => Promise<void>) => rows.change(replyId, ['queued'], change);

  return {
    ...createPgReplyExchange(ctx, rows, connections, limits, claims, parts.memberIdOf),

    enqueue(requestId, status, { actor, idempotencyKey }) {
      return ctx.tx(async () => {
        await lockEvents(ctx);
        const bodyHash = hashReplyBody({ status });
        if (idempotencyKey !== undefined) {
          const earlier = await keys.find(idempotencyKey, requestId, bodyHash);
          if (earlier !== undefined) return { reply: toApiReply(await load(earlier)), replyId: earlier, repeated: true };
        }
        const request = await one<{ retries: number; user_errors: number }, { id: string }>(sql.selectRequest, { id: requestId });
        const inFlight = request === undefined ? undefined : await one<{ id: number }, { id: string }>(sql.selectOnItsWay, { id: requestId });
        const exchange = request !== undefined && inFlight === undefined && status === 'CRSUC' ? await state.exchangeStatus() : undefined;
        checkEnqueue(requestId, status, request, inFlight, exchange, limits);
        const inserted = await one<{ id: number }, Parameters<typeof sql.insert.bind>[0]>(sql.insert, { request_id: requestId, status, now: ctx.now(), by: actor.name });
        if (inserted === undefined) throw new Error('the reply was not stored');
        const replyId = inserted.id;
        if (idempotencyKey !== undefined) await keys.remember(idempotencyKey, requestId, bodyHash, replyId);
        await audit.append({ actor, action: 'reply.requested', target: requestId, details: { status, replyId } });
        const reply = await load(replyId);
        await announce(reply);
        return { reply: toApiReply(reply), replyId, repeated: false };
      });
    },

    async due(now, limit) {
      const at = toIso(now);
      const claimed = await ctx.query<ReplyRow>(sql.claimDue.text, sql.claimDue.bind({ now: at, limit: dueLimit(limit), me, until: leaseFrom(at) }));
      return claimed.rows.sort((a, b) => a.id - b.id).flatMap((row) => toOutboxReply(row) ?? []);
    },

    async nextDueAt() {
      return (await one<{ at: string | null }, { now: string; me: string }>(sql.selectNextDue, { now: ctx.now(), me }))?.at ?? null;
    },

    get: (replyId) => rows.find(replyId),

    markAttemptStarted(replyId, seen) {
      return ctx.tx(async () => {
        const reply = await load(replyId);
        if (reply.state !== 'queued') return reply;
        const now = ctx.now();
        const known = evidence(seen ?? (await one<{ request_token_sha256: string | null; concur_last_modified: string | null }, { id: string }>(sql.selectEvidence, { id: reply.requestId })));
        if ((await run(sql.updateStarted, { id: replyId, now, ...known, me, until: leaseFrom(now) })) === 0) throw new ReplyClaimedError(replyId);
        return load(replyId);
      });
    },

    markAttempt(replyId, { attempts, nextAttemptAt, lastError, inDoubt = false }) {
      return changeQueued(replyId, async (_reply, now) => {
        const row = { id: replyId, attempts, next: toIso(nextAttemptAt), error: lastError, now, me };
        await run(inDoubt ? sql.updateAttemptInDoubt : sql.updateAttempt, row);
      });
    },

    markSent(replyId) {
      return ctx.tx(async () => {
        await lockEvents(ctx);
        const before = await load(replyId);
        const sent = await changeQueued(replyId, async (reply, now) => {
          // A CRRET on a CRSUC's way: Concur issues a new token, and the CRSUC waits for it.
          const waits = reply.status === 'CRRET' && reply.requestedStatus === 'CRSUC';
          await run(sql.updateDone, { id: replyId, state: waits ? 'waiting_token' : 'sent', error: null, now, me });
          await run(sql.updateRequestAfterSent, { id: reply.requestId, status: reply.status, ...sentChanges(reply.status), now });
        });
        if (before.state === 'queued') {
          const request = await requests.get(sent.requestId);
          if (request !== undefined) await events.append('request.updated', request);
        }
        return sent;
      });
    },

    markFailed(replyId, lastError) {
      return changeQueued(replyId, async (_reply, now) => {
        await run(sql.updateDone, { id: replyId, state: 'failed', error: lastError, now, me });
      });
    },

    async counts() {
      return countsOf((await ctx.query<{ state: string; n: number }>(REPLY_SQL.selectCounts)).rows);
    },

    async pendingCount() {
      return (await ctx.query<{ n: number }>(REPLY_SQL.selectPending)).rows[0]?.n ?? 0;
    },
  };
}

/**
 * Gives back what this relay claimed and has not started (no attempt, no exchange under way):
 * at a graceful stop, after the outbox has stopped, so that the other relays need not wait out the
 * lease for the rest of its batch. What it did start keeps its claim until the lease ends: its
 * outcome was recorded (which released it) or is unknown (then only the lease may end it). Safe
 * even if a step were still under way: markAttemptStarted and markExchanging check the claim.
 */
export async function releaseUnstartedClaims(ctx: PgContext, claims: ReplyClaims): Promise<number> {
  const released = await ctx.query(
    `UPDATE replies SET claimed_by = NULL, lease_until = NULL
     WHERE claimed_by = $1 AND attempt_started_at IS NULL AND state <> 'exchanging'`,
    [claims.relayId],
  );
  return released.rowCount ?? 0;
}
