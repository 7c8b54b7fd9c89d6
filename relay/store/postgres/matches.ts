import { ExchangeUnavailableError } from '../errors.js';
import type { EnqueueResult, Matches, MatchDue, MatchRecorded, Replies, Requests, Withheld } from '../index.js';
import { answerValues, isPending, toMatchDue, withheldFor, type DueRow } from '../match-rows.js';
import { AUTO_ACTOR, type MatchesDeps } from '../matches.js';
import { addMs, toIso, type TimeInput } from '../time.js';
import type { PgContext } from './context.js';
import { lockEvents, type PgEventLog } from './events.js';

/**
 * The PostgreSQL twin of matches.ts: what the member directory is still to be asked, and what it
 * said, for every relay on the database. `claimDue` hands each due request to one relay only
 * (FOR UPDATE SKIP LOCKED, then a later next attempt as its lease), so the directory is asked
 * about a request once, not once per relay; `record` takes the events lock first (events.ts), so
 * it reads the match and the request's replies as no other writer can change them before it
 * commits: a person's reply stored on another relay before it wins, and none slips in after.
 */

/** matches.ts's dependencies, as the parts on PostgreSQL are. */
export interface PgMatchesDeps extends Pick<MatchesDeps, 'askAboutNew' | 'tokenLifetimeMs'> {
  events: Pick<PgEventLog, 'append' | 'onAppendAll'>;
  requests: Pick<Requests, 'get'>;
  replies: Pick<Replies, 'enqueue'>;
}

const DUE_SELECT = `
  SELECT m.request_id, m.attempts, q.first_name, q.middle_name, q.last_name, q.loyalty_number, q.status,
         q.request_token_issued_at, EXISTS (SELECT 1 FROM replies r WHERE r.request_id = m.request_id) AS answered
  FROM matches m JOIN requests q ON q.id = m.request_id
  WHERE m.state = 'due' AND m.next_attempt_at <= $1
  ORDER BY m.next_attempt_at, m.request_id LIMIT $2`;

const INSERT_DUE = `
  INSERT INTO matches (request_id, state, attempts, next_attempt_at, created_at, updated_at)
  SELECT id, 'due', 0, $2, $2, $2 FROM unnest($1::text[]) AS id
  ON CONFLICT (request_id) DO NOTHING`;

const limitOf = (limit: number): number => Math.max(1, Math.trunc(Number.isFinite(limit) ? limit : 1));

export async function createPgMatches(ctx: PgContext, deps: PgMatchesDeps): Promise<Matches> {
  const { events, requests, replies } = deps;

  if (deps.askAboutNew) {
    // A poll's group of new requests is one INSERT, in the transaction that stores them.
    events.onAppendAll(async (appended) => {
      const ids = appended.flatMap((event) => (event.type === 'request.created' && event.data.group === 'pending' ? [event.data.id] : []));
      if (ids.length > 0) await ctx.query(INSERT_DUE, [ids, ctx.now()]);
    });
    // As in matches.ts: the unanswered pending requests stored before a directory was configured.
    // Relays opening at once may both insert: ON CONFLICT keeps one row.
    const { rows } = await ctx.query<{ id: string; status: string }>(`
      SELECT q.id, q.status FROM requests q
      WHERE NOT EXISTS (SELECT 1 FROM matches m WHERE m.request_id = q.id)
        AND NOT EXISTS (SELECT 1 FROM replies r WHERE r.request_id = q.id)`);
    const pending = rows.filter((row) => isPending(row.status)).map((row) => row.id);
    if (pending.length > 0) await ctx.query(INSERT_DUE, [pending, ctx.now()]);
  }

  const toDue = (rows: DueRow[]): MatchDue[] => rows.map((row) => toMatchDue(row, deps.tokenLifetimeMs));

  /** Queues the policy's reply unless it is withheld (read under the events lock `record` holds). */
  async function queueReply(requestId: string, code: NonNullable<Parameters<Matches['record']>[1]['reply']>) {
    const { rows } = await ctx.query<{ status: string; answered: boolean }>(
      'SELECT status, EXISTS (SELECT 1 FROM replies r WHERE r.request_id = q.id) AS answered FROM requests q WHERE id = $1',
      [requestId],
    );
    const withheld = withheldFor(rows[0]);
    if (withheld !== null) return { reply: null, withheld };
    try {
      return { reply: await replies.enqueue(requestId, code, { actor: AUTO_ACTOR }), withheld: null };
    } catch (error) {
      // The answer is still worth keeping: the request waits for a person, who sees it.
      if (!(error instanceof ExchangeUnavailableError)) throw error;
      return { reply: null, withheld: 'exchange_unavailable' as const };
    }
  }

  return {
    async due(now, limit) {
      const { rows } = await ctx.query<DueRow>(DUE_SELECT, [toIso(now), limitOf(limit)]);
      return toDue(rows);
    },

    async claimDue(now: TimeInput, limit: number, leaseMs: number) {
      const at = toIso(now);
      return ctx.tx(async () => {
        // Rows another relay is claiming right now are skipped, not waited for; one it claimed and
        // committed meanwhile is read again as it left it (READ COMMITTED), no longer due.
        const { rows } = await ctx.query<DueRow>(`${DUE_SELECT} FOR UPDATE OF m SKIP LOCKED`, [at, limitOf(limit)]);
        if (rows.length > 0) {
          await ctx.query('UPDATE matches SET next_attempt_at = $2 WHERE request_id = ANY($1::text[])', [rows.map((row) => row.request_id), addMs(at, leaseMs)]);
        }
        return toDue(rows);
      });
    },

    async nextDueAt(after) {
      const { rows } = await ctx.query<{ at: string | null }>(
        "SELECT MIN(next_attempt_at) AS at FROM matches WHERE state = 'due' AND ($1::timestamptz IS NULL OR next_attempt_at > $1)",
        [after === undefined ? null : toIso(after)],
      );
      return rows[0]?.at ?? null;
    },

    async record(requestId, outcome) {
      return ctx.tx(async (): Promise<MatchRecorded> => {
        await lockEvents(ctx);
        const { rows } = await ctx.query<{ state: string; attempts: number }>('SELECT state, attempts FROM matches WHERE request_id = $1 FOR UPDATE', [requestId]);
        const row = rows[0];
        if (row === undefined || row.state !== 'due') return { recorded: false };
        const values = answerValues(row.attempts, outcome);
        await ctx.query(
          `UPDATE matches SET state = $2, attempts = $3, next_attempt_at = $4, result = $5, note = $6, answered_at = $8, member_id = $7, updated_at = $8
           WHERE request_id = $1`,
          [requestId, values.state, values.attempts, values.next, values.result, values.note, values.member, ctx.now()],
        );
        let queued: { reply: EnqueueResult | null; withheld: Withheld | null } = { reply: null, withheld: null };
        if (outcome.reply !== null) queued = await queueReply(requestId, outcome.reply);
        const view = await requests.get(requestId);
        if (view !== undefined) await events.append('request.updated', view);
        return { recorded: true, ...queued };
      });
    },

    async close(requestId) {
      await ctx.query("UPDATE matches SET state = 'done', next_attempt_at = NULL, updated_at = $2 WHERE request_id = $1 AND state = 'due'", [
        requestId,
        ctx.now(),
      ]);
    },

    async memberId(requestId) {
      const { rows } = await ctx.query<{ member_id: string | null }>("SELECT member_id FROM matches WHERE request_id = $1 AND result = 'member'", [requestId]);
      return rows[0]?.member_id ?? null;
    },
  };
}
