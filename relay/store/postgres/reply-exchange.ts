import type { Connection } from '../../../shared/connections.js';
import type { VersionRules } from '../../../shared/status.js';
import { ReplyClaimedError } from '../errors.js';
import type { Awaitable, Connections, ReplyExchange } from '../index.js';
import type { ReplyClaims } from '../reply-claims.js';
import { exchangeFactsOf } from '../reply-rules.js';
import { EXCHANGE_SQL, type FactsRow } from '../reply-sql.js';
import { addMs, toIso } from '../time.js';
import type { PgContext } from './context.js';
import { named } from './named.js';
import type { PgReplyRows } from './reply-rows.js';

const ON_THE_WAY = ['queued', 'waiting_token'] as const;

/** The PostgreSQL twin of reply-exchange.ts: the same steps, states and events (see there). */
export function createPgReplyExchange(
  ctx: PgContext,
  rows: PgReplyRows,
  connections: Pick<Connections, 'create'>,
  limits: Pick<VersionRules, 'CRRET' | 'requestTokenLifetimeMs'>,
  { relayId: me, leaseMs }: ReplyClaims,
  memberIdOf: (requestId: string) => Awaitable<string | null> = () => null,
): ReplyExchange {
  const q = {
    facts: named<{ id: string }>(EXCHANGE_SQL.facts),
    exchanging: named<{ id: number; issued: string | null; now: string; me: string; until: string }>(EXCHANGE_SQL.exchanging),
    exchanged: named<{ id: number; now: string }>(EXCHANGE_SQL.exchanged),
    retry: named<{ id: number; next: string; error: string; now: string; me: string }>(EXCHANGE_SQL.retry),
    newToken: named<{ id: number; status: string; error: string; now: string }>(EXCHANGE_SQL.newToken),
    failed: named<{ id: number; error: string; now: string; me: string }>(EXCHANGE_SQL.failed),
  };
  const run = async <P extends object>(statement: ReturnType<typeof named<P>>, params: P): Promise<number> =>
    (await ctx.query(statement.text, statement.bind(params))).rowCount ?? 0;

  return {
    async exchangeFacts(requestId) {
      const { rows: found } = await ctx.query<FactsRow>(q.facts.text, q.facts.bind({ id: requestId }));
      const row = found[0];
      return row === undefined ? undefined : exchangeFactsOf(row, limits);
    },

    markExchanging(replyId, tokenIssuedAt) {
      return rows.change(replyId, ON_THE_WAY, async (_reply, now) => {
        const changed = await run(q.exchanging, { id: replyId, issued: tokenIssuedAt, now, me, until: addMs(now, leaseMs) });
        if (changed === 0) throw new ReplyClaimedError(replyId);
      });
    },

    async markExchanged(replyId, tokens) {
      return ctx.tx(async () => {
        let connection: Connection | null = null;
        const reply = await rows.change(replyId, ['exchanging'], async (before, now) => {
          // Whoever asked for the CRSUC, the member the directory named for the request stays with it.
          const memberId = await memberIdOf(before.requestId);
          connection = await connections.create({ ...tokens, requestId: before.requestId, connectedBy: before.requestedBy ?? 'unknown', memberId });
          await run(q.exchanged, { id: replyId, now });
        });
        return { reply, connection };
      });
    },

    markExchangeRetry(replyId, { nextAttemptAt, lastError }) {
      return rows.change(replyId, ['exchanging'], async (_reply, now) => {
        await run(q.retry, { id: replyId, next: toIso(nextAttemptAt), error: lastError, now, me });
      });
    },

    markNewTokenNeeded(replyId, { status, lastError }) {
      return rows.change(replyId, ['queued', 'exchanging'], async (_reply, now) => {
        await run(q.newToken, { id: replyId, status, error: lastError, now });
      });
    },

    markExchangeFailed(replyId, lastError) {
      return rows.change(replyId, ['queued', 'exchanging', 'waiting_token'], async (_reply, now) => {
        await run(q.failed, { id: replyId, error: lastError, now, me });
      });
    },
  };
}
