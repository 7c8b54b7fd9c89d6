import type { MatchResult } from '../../shared/match.js';
import type { ReplyCode } from '../../shared/status.js';
import type { Actor } from './audit.js';
import type { StoreContext } from './context.js';
import type { Db } from './db.js';
import { ExchangeUnavailableError } from './errors.js';
import type { EventLog } from './events.js';
import { answerValues, isPending, toMatchDue, withheldFor, type DueRow } from './match-rows.js';
import type { EnqueueResult, Replies } from './replies.js';
import type { Requests } from './requests.js';
import { addMs, toIso, type TimeInput } from './time.js';

/** Who auto-connect's replies are asked for by: the reply's requestedBy and the audit trail say `auto`. */
export const AUTO_ACTOR: Actor = { keyId: null, name: 'auto' };

/** A request the member directory is to be asked about now, with what the question carries. */
export interface MatchDue {
  requestId: string;
  firstName: string | null;
  middleName: string | null;
  lastName: string | null;
  loyaltyNumber: string | null;
  /** Calls made so far (each failed call and each `unknown` counts). */
  attempts: number;
  /** When its request token runs out (null: it has none). */
  requestTokenExpiresAt: string | null;
  /** Why asking is no longer worth it: a reply exists already, or Concur moved it out of pending. */
  stale: 'answered' | 'not_pending' | null;
}

/** What one call to the directory came to, and what the policy makes of it. */
export interface MatchOutcome {
  /** The directory's answer; `unknown` for a call that failed. */
  result: MatchResult;
  /** The directory's note, or what went wrong with the call. */
  note: string | null;
  memberId: string | null;
  /** Ask again then (a failed call or `unknown`, while the token lasts); absent: asked for the last time. */
  retryAt?: TimeInput;
  /** The reply the policy sends for it, or null: it waits for a person. */
  reply: ReplyCode | null;
}

export type MatchRecorded =
  /** It was not due (recorded already, or never asked about): nothing changed. */
  | { recorded: false }
  /** `withheld`: why the policy's reply was not sent (a reply exists already, or it left pending). */
  | { recorded: true; reply: EnqueueResult | null; withheld: Withheld | null };

/**
 * Why the policy's reply was not queued: a reply exists already (a person's), the request left
 * pending, or it is a CRSUC while the relay cannot exchange request tokens (the summary says why).
 */
export type Withheld = 'answered' | 'not_pending' | 'exchange_unavailable';

export interface Matches {
  /** Due requests at `now`, the earliest first, at most `limit`. */
  due(now: TimeInput, limit: number): MatchDue[];
  /**
   * As `due`, and each one returned is this caller's to ask about: it is not due again, for any
   * relay on the database, for `leaseMs` from `now` (until `record` or `close`, which settle it).
   * The lease must outlast a call to the directory; a relay that dies holding one only delays the
   * question until it ends.
   */
  claimDue(now: TimeInput, limit: number, leaseMs: number): MatchDue[];
  /** When the earliest due request is (only those due after `after`, when given: the worker has seen the rest); null when none is. */
  nextDueAt(after?: TimeInput): string | null;
  /**
   * Records an answer on the request (a `request.updated` event), and queues the policy's reply in
   * the same transaction unless the request has a reply already (a person's wins) or is no longer
   * pending. The reply goes through `replies.enqueue` as AUTO_ACTOR, as a person's would.
   */
  record(requestId: string, outcome: MatchOutcome): MatchRecorded;
  /** Stops asking about a request that is not worth it any more (MatchDue.stale), leaving its match as it is. */
  close(requestId: string): void;
  /**
   * The member id the directory named for the request (its answer was `member`), or null: what
   * the connection a CRSUC makes keeps, whoever asked for the CRSUC.
   */
  memberId(requestId: string): string | null;
}

function prepare(db: Db) {
  const insert = db.prepare<[{ id: string; now: string }]>(`
    INSERT OR IGNORE INTO matches (request_id, state, attempts, next_attempt_at, created_at, updated_at)
    VALUES (@id, 'due', 0, @now, @now, @now)`);
  const selectDue = db.prepare<[string, number], DueRow>(`
    SELECT m.request_id, m.attempts, q.first_name, q.middle_name, q.last_name, q.loyalty_number, q.status,
           q.request_token_issued_at, EXISTS (SELECT 1 FROM replies r WHERE r.request_id = m.request_id) AS answered
    FROM matches m JOIN requests q ON q.id = m.request_id
    WHERE m.state = 'due' AND m.next_attempt_at <= ?
    ORDER BY m.next_attempt_at, m.request_id LIMIT ?`);
  const selectNextDue = db.prepare<[string, number], { id: string; at: string }>(
    "SELECT request_id AS id, next_attempt_at AS at FROM matches WHERE state = 'due' AND next_attempt_at > ? ORDER BY next_attempt_at LIMIT ?",
  );
  const selectOne = db.prepare<[string], { state: string; attempts: number }>('SELECT state, attempts FROM matches WHERE request_id = ?');
  const selectRequest = db.prepare<[string], { status: string; answered: number }>(`
    SELECT status, EXISTS (SELECT 1 FROM replies r WHERE r.request_id = q.id) AS answered FROM requests q WHERE id = ?`);
  type Update = { id: string; state: string; attempts: number; next: string | null; result: string; note: string | null; member: string | null; now: string };
  const update = db.prepare<[Update]>(`
    UPDATE matches SET state = @state, attempts = @attempts, next_attempt_at = @next, result = @result, note = @note,
           answered_at = @now, member_id = @member, updated_at = @now
    WHERE request_id = @id`);
  const updateClosed = db.prepare<[{ id: string; now: string }]>(`
    UPDATE matches SET state = 'done', next_attempt_at = NULL, updated_at = @now WHERE request_id = @id AND state = 'due'`);
  const selectMember = db.prepare<[string], { member_id: string | null }>(
    "SELECT member_id FROM matches WHERE request_id = ? AND result = 'member'",
  );
  // Pending requests the directory was never asked about (stored before one was configured).
  const selectNeverAsked = db.prepare<[], { id: string; status: string }>(`
    SELECT q.id, q.status FROM requests q
    WHERE NOT EXISTS (SELECT 1 FROM matches m WHERE m.request_id = q.id)
      AND NOT EXISTS (SELECT 1 FROM replies r WHERE r.request_id = q.id)`);
  return { insert, selectDue, selectNextDue, selectOne, selectRequest, update, updateClosed, selectMember, selectNeverAsked };
}

export interface MatchesDeps {
  events: Pick<EventLog, 'append' | 'onAppend'>;
  requests: Pick<Requests, 'get'>;
  replies: Pick<Replies, 'enqueue'>;
  /** Whether each new pending request is to be asked about: only when a member directory is configured. */
  askAboutNew: boolean;
  /** How long the relay takes a request token to live (shared/status.ts REQUEST_TOKEN_LIFETIME_MS). */
  tokenLifetimeMs: number;
}

/**
 * Which requests the member directory is still to be asked about, and what it said. A new
 * pending request gets its row inside the transaction that stores it (with its request.created),
 * so what is still to be asked lives here, not in a worker's memory: a request that arrived while
 * the relay was down, or whose answer came just before a crash, is asked after the restart.
 */
export function createMatches(ctx: StoreContext, deps: MatchesDeps): Matches {
  const { events, requests, replies } = deps;
  const sql = prepare(ctx.db);

  if (deps.askAboutNew) {
    events.onAppend((event) => {
      if (event.type === 'request.created' && event.data.group === 'pending') sql.insert.run({ id: event.data.id, now: ctx.now() });
    });
    // A directory configured on a relay that already holds unanswered pending requests: they are
    // new to the directory, and the summary tells the extension that every unanswered pending
    // request is being asked about, so none may be left out.
    ctx.tx(() => {
      const now = ctx.now();
      for (const row of sql.selectNeverAsked.all()) if (isPending(row.status)) sql.insert.run({ id: row.id, now });
    });
  }

  // One relay uses a SQLite file, so its claims live in this process (request id → lease end) and
  // die with it: a relay restarted after a crash asks again at once, where a lease written to the
  // file would make it wait out a claim nobody holds. (PostgreSQL's claims are rows: several relays.)
  const claims = new Map<string, string>();
  const liveClaims = (at: string): Map<string, string> => {
    for (const [id, until] of claims) if (until <= at) claims.delete(id);
    return claims;
  };

  const due = (now: TimeInput, limit: number): MatchDue[] => {
    const at = toIso(now);
    const live = liveClaims(at);
    const wanted = Math.max(1, Math.trunc(Number.isFinite(limit) ? limit : 1));
    return sql.selectDue
      .all(at, wanted + live.size)
      .filter((row) => !live.has(row.request_id))
      .slice(0, wanted)
      .map((row) => toMatchDue(row, deps.tokenLifetimeMs));
  };

  return {
    due,

    claimDue(now, limit, leaseMs) {
      const at = toIso(now);
      const picked = due(at, limit);
      const until = addMs(at, leaseMs);
      for (const one of picked) claims.set(one.requestId, until);
      return picked;
    },

    nextDueAt(after) {
      // '' sorts before every stored time: without `after`, the earliest of all.
      const from = after === undefined ? '' : toIso(after);
      const live = liveClaims(toIso(ctx.clock()));
      // A claimed request is due again when its lease ends, not at its stored time.
      const stored = sql.selectNextDue.all(from, live.size + 1).find((row) => !live.has(row.id))?.at ?? null;
      const leases = [...live.values()].filter((until) => until > from);
      return [stored, ...leases].reduce<string | null>((min, at) => (at !== null && (min === null || at < min) ? at : min), null);
    },

    record(requestId, outcome) {
      claims.delete(requestId);
      return ctx.tx((): MatchRecorded => {
        const row = sql.selectOne.get(requestId);
        if (row === undefined || row.state !== 'due') return { recorded: false };
        sql.update.run({ id: requestId, ...answerValues(row.attempts, outcome), now: ctx.now() });
        let reply: EnqueueResult | null = null;
        let withheld: Withheld | null = null;
        if (outcome.reply !== null) {
          withheld = withheldFor(sql.selectRequest.get(requestId));
          if (withheld === null) {
            try {
              reply = replies.enqueue(requestId, outcome.reply, { actor: AUTO_ACTOR });
            } catch (error) {
              // The answer is still worth keeping: the request waits for a person, who sees it.
              if (!(error instanceof ExchangeUnavailableError)) throw error;
              withheld = 'exchange_unavailable';
            }
          }
        }
        const view = requests.get(requestId);
        if (view !== undefined) events.append('request.updated', view);
        return { recorded: true, reply, withheld };
      });
    },

    close(requestId) {
      claims.delete(requestId);
      sql.updateClosed.run({ id: requestId, now: ctx.now() });
    },

    memberId(requestId) {
      return sql.selectMember.get(requestId)?.member_id ?? null;
    },
  };
}
