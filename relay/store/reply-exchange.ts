import type { Connection } from '../../shared/connections.js';
import type { ReplyCode, VersionRules } from '../../shared/status.js';
import type { Connections, NewConnection } from './connections.js';
import type { StoreContext } from './context.js';
import { ReplyClaimedError } from './errors.js';
import type { OutboxReply } from './mapping.js';
import type { ReplyClaims } from './reply-claims.js';
import { EXCHANGE_SQL, type FactsRow } from './reply-sql.js';
import type { ReplyRows } from './reply-rows.js';
import { exchangeFactsOf } from './reply-rules.js';
import { addMs, toIso, type TimeInput } from './time.js';

/**
 * The exchange a CRSUC starts with, as the outbox records it (relay/replies/exchange-step.ts does
 * the calls). One reply row carries the whole way, and every step is a `reply.updated` event:
 *
 *   queued ─▶ exchanging ─▶ queued (tokens stored, exchanged) ─▶ PUT CRSUC ─▶ sent
 *                 │
 *                 ├─▶ queued again, later (Concur could not answer; inside the token's window)
 *                 ├─▶ failed (the partner's credentials were refused)
 *                 └─▶ status CRRET, queued ─▶ PUT CRRET ─▶ waiting_token ─▶ (a poll brings a new
 *                     token) ─▶ exchanging ─▶ …  — or CRPA1/CRPA2 once no retries are left.
 *
 * Why one row rather than a CRRET row beside a kept CRSUC: the API shows a request's latest
 * reply, and with one row that is always the whole story — `status` is what was or will be sent
 * (CRRET while the relay asks for a new token, CRSUC again once it has one), `requestedStatus`
 * (stored, not in the API) what was asked for, `state` where it is. "One reply on its way per
 * request" stays one row in queued, exchanging or waiting_token (a unique index holds it), so a
 * person cannot queue a CREU1 beside a CRSUC the relay is still working on (409).
 *
 * `exchanging` is written before the exchange call and left only when its outcome is stored: a
 * reply found in it later (after a crash, or a store that failed to record the answer) lost the
 * traveller's tokens, and goes the CRRET way.
 */

/** What the exchange for a reply needs to know of its request; the token itself comes from requests.getRequestToken. */
export interface ExchangeFacts {
  /** Concur's userId of the request (API 3.2): the password grant's username. */
  userId: string | null;
  /** When the relay first saw the request's current token (its life counts from then). */
  tokenIssuedAt: string | null;
  /** When the relay takes that token to expire (shared/status.ts REQUEST_TOKEN_LIFETIME_MS); null without a token. */
  tokenExpiresAt: string | null;
  /** CRRETs the relay has sent for the request. */
  retries: number;
  /** How many the relay's Concur API version allows (RETRY_LIMITS: 5 under 3.0, 48 under 3.2). */
  retryLimit: number;
}

/** What an exchange brought, to be stored as the request's connection. */
export type ExchangedTokens = Omit<NewConnection, 'requestId' | 'connectedBy'>;

export interface ReplyExchange {
  exchangeFacts(requestId: string): ExchangeFacts | undefined;
  /**
   * A queued or waiting CRSUC is about to be exchanged: `exchanging` (status CRSUC), with the token's
   * issue time; renews this relay's claim. Throws ReplyClaimedError while another relay holds it.
   */
  markExchanging(replyId: number, tokenIssuedAt: string | null): OutboxReply;
  /**
   * The exchange worked: the connection (sealed) and the reply (queued for its PUT, exchanged) in one
   * transaction. connectedBy is the reply's requestedBy. Only from `exchanging`; otherwise nothing is stored.
   */
  markExchanged(replyId: number, tokens: ExchangedTokens): { reply: OutboxReply; connection: Connection | null };
  /** Concur could not answer; the exchange is tried again at `nextAttemptAt`. */
  markExchangeRetry(replyId: number, retry: { nextAttemptAt: TimeInput; lastError: string }): OutboxReply;
  /** The exchange cannot work with this token: `status` (CRRET, or CRPA1/CRPA2 with no retries left) is queued instead, saying why. */
  markNewTokenNeeded(replyId: number, next: { status: Extract<ReplyCode, 'CRRET' | 'CRPA1' | 'CRPA2'>; lastError: string }): OutboxReply;
  /** The exchange can never work as configured (credentials refused, none configured): failed, nothing sent. */
  markExchangeFailed(replyId: number, lastError: string): OutboxReply;
}

const ON_THE_WAY = ['queued', 'waiting_token'] as const;

function prepare(ctx: StoreContext) {
  const { db } = ctx;
  const q = EXCHANGE_SQL;
  return {
    facts: db.prepare<[{ id: string }], FactsRow>(q.facts),
    exchanging: db.prepare<[{ id: number; issued: string | null; now: string; me: string; until: string }]>(q.exchanging),
    exchanged: db.prepare<[{ id: number; now: string }]>(q.exchanged),
    retry: db.prepare<[{ id: number; next: string; error: string; now: string; me: string }]>(q.retry),
    newToken: db.prepare<[{ id: number; status: string; error: string; now: string }]>(q.newToken),
    failed: db.prepare<[{ id: number; error: string; now: string; me: string }]>(q.failed),
  };
}

export function createReplyExchange(
  ctx: StoreContext,
  rows: ReplyRows,
  connections: Pick<Connections, 'create'>,
  limits: Pick<VersionRules, 'CRRET' | 'requestTokenLifetimeMs'>,
  { relayId: me, leaseMs }: ReplyClaims,
  memberIdOf: (requestId: string) => string | null = () => null,
): ReplyExchange {
  const sql = prepare(ctx);
  return {
    exchangeFacts(requestId) {
      const row = sql.facts.get({ id: requestId });
      return row === undefined ? undefined : exchangeFactsOf(row, limits);
    },

    markExchanging(replyId, tokenIssuedAt) {
      return rows.change(replyId, ON_THE_WAY, (_reply, now) => {
        const changed = sql.exchanging.run({ id: replyId, issued: tokenIssuedAt, now, me, until: addMs(now, leaseMs) }).changes;
        if (changed === 0) throw new ReplyClaimedError(replyId);
      });
    },

    markExchanged(replyId, tokens) {
      return ctx.tx(() => {
        let connection: Connection | null = null;
        const reply = rows.change(replyId, ['exchanging'], (before, now) => {
          // Whoever asked for the CRSUC, the member the directory named for the request stays with it.
          const memberId = memberIdOf(before.requestId);
          connection = connections.create({ ...tokens, requestId: before.requestId, connectedBy: before.requestedBy ?? 'unknown', memberId });
          sql.exchanged.run({ id: replyId, now });
        });
        return { reply, connection };
      });
    },

    markExchangeRetry(replyId, { nextAttemptAt, lastError }) {
      return rows.change(replyId, ['exchanging'], (_reply, now) =>
        sql.retry.run({ id: replyId, next: toIso(nextAttemptAt), error: lastError, now, me }),
      );
    },

    markNewTokenNeeded(replyId, { status, lastError }) {
      return rows.change(replyId, ['queued', 'exchanging'], (_reply, now) => sql.newToken.run({ id: replyId, status, error: lastError, now }));
    },

    markExchangeFailed(replyId, lastError) {
      return rows.change(replyId, ['queued', 'exchanging', 'waiting_token'], (_reply, now) =>
        sql.failed.run({ id: replyId, error: lastError, now, me }),
      );
    },
  };
}
