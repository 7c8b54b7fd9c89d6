import type { Logger } from '../base/log.js';
import { ExchangeError, type ExchangeClient, type ExchangeForm } from '../concur/exchange.js';
import type { UserTokens } from '../concur/user-tokens.js';
import { ReplyClaimedError, type Awaitable, type OutboxReply, type RelayState, type Replies, type Requests } from '../store/index.js';
import { backoffDelay } from '../workers/backoff.js';
import { iso } from '../workers/loop.js';
import { MAX_RETRIES } from '../../shared/status.js';

/**
 * The first step of a CRSUC: CRSUC tells Concur the partner "has successfully recorded the access
 * token, refresh token, and instance URL", so the request token is exchanged for the traveller's
 * tokens and they are stored before the PUT (store/reply-exchange.ts has the states). The step
 * takes a due reply and gives back the reply to PUT now, or nothing (it waits, or is done):
 *
 * - `exchanging` is written before the call; the tokens are stored (sealed) with the reply's
 *   change, and then the CRSUC is PUT like any reply (with its in-doubt machinery).
 * - Concur refused the request token (expired, used, unknown: a legacy 400 does not say which),
 *   or a reply is found `exchanging` (the relay stopped, or could not store the answer, after the
 *   call: the token may be spent and the tokens are lost) → a CRRET asks Concur for a new token
 *   while the request has retries left, and the CRSUC waits for it (`waiting_token`); no retries
 *   left → CRPA1.
 * - Concur could not answer (network, timeout, 429, 5xx, an answer the relay cannot read) → the
 *   exchange is tried again after a backoff while the token lives as the relay takes it (15
 *   minutes under 3.0, a day under 3.2: shared/status.ts REQUEST_TOKEN_LIFETIME_MS); after that,
 *   the CRRET way (CRPA2 with no retries left: a Concur network error).
 * - Concur refused the partner's client credentials: the partner's problem, not the traveller's.
 *   No CRRET; the reply fails with the reason and the summary's exchange becomes unavailable.
 *
 * Nothing here logs or stores a token in clear: the store seals the traveller's tokens, and
 * Concur's messages (ExchangeError) name paths and hosts, never query strings.
 */

/** How the relay exchanges: the client (with the partner's credentials) and its form. */
export interface ExchangeSetup {
  client: Pick<ExchangeClient, 'exchange'>;
  form: ExchangeForm;
}

export interface ExchangeStepDeps {
  /** null: the relay has no partner credentials, so a CRSUC cannot be sent. */
  exchange: ExchangeSetup | null;
  store: {
    replies: Pick<
      Replies,
      'exchangeFacts' | 'markExchanging' | 'markExchanged' | 'markExchangeRetry' | 'markNewTokenNeeded' | 'markExchangeFailed'
    >;
    requests: Pick<Requests, 'getRequestToken'>;
    state: Pick<RelayState, 'exchangeStatus' | 'setExchangeStatus'>;
  };
  logger: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  now: () => number;
  random: () => number;
  baseDelayMs: number;
  maxDelayMs: number;
  storeFailed: () => void;
}

/** A due reply → the reply to PUT now (itself, when it needs no exchange), or undefined when nothing is to be sent now. */
export type ExchangeStep = (reply: OutboxReply) => Promise<OutboxReply | undefined>;

/** Refresh a connection before its access token lapses, and use its refresh token at least daily. */
const REFRESH_AHEAD_MS = 10 * 60 * 1000;
const REFRESH_AT_LEAST_EVERY_MS = 24 * 60 * 60 * 1000;

export function nextRefreshOf(tokens: Pick<UserTokens, 'accessTokenExpiresAt'>, now: number): string {
  const beforeExpiry = Date.parse(tokens.accessTokenExpiresAt) - REFRESH_AHEAD_MS;
  return iso(Math.max(now, Math.min(beforeExpiry, now + REFRESH_AT_LEAST_EVERY_MS)));
}

const ids = (reply: OutboxReply) => ({ replyId: reply.id, requestId: reply.requestId });

export function createExchangeStep(deps: ExchangeStepDeps): ExchangeStep {
  const { exchange, store, logger, now, storeFailed } = deps;

  /** Runs a store write; a failure is logged and waited out (the reply stays as it is in the store). */
  async function write<T>(reply: OutboxReply, what: string, run: () => Awaitable<T>): Promise<T | undefined> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof ReplyClaimedError) {
        // Another relay on the same database took the reply over (this relay's claim had lapsed): nothing to do here.
        logger.info(ids(reply), `another relay works on this reply; ${what} is left to it`);
        return undefined;
      }
      storeFailed();
      logger.error({ ...ids(reply), err: error }, `the store could not record ${what}`);
      return undefined;
    }
  }

  /** The token cannot serve: a CRRET while retries remain, else `final`; returned to be PUT now. */
  async function newTokenNeeded(reply: OutboxReply, why: string, final: 'CRPA1' | 'CRPA2'): Promise<OutboxReply | undefined> {
    // The version's limit (5 under 3.0, 48 under 3.2); a request the store cannot read has none left.
    const facts = await write(reply, 'what the request has left', () => store.replies.exchangeFacts(reply.requestId));
    const limit = facts?.retryLimit ?? MAX_RETRIES;
    const retries = facts?.retries ?? limit;
    const left = retries < limit;
    const lastError = left
      ? `${why}; a CRRET asks Concur for a new request token, and the CRSUC follows by itself when it comes`
      : `${why}; the request has no retries left (${retries} of ${limit}), so ${final} tells Concur`;
    const next = await write(reply, 'that a new request token is needed', () =>
      store.replies.markNewTokenNeeded(reply.id, { status: left ? 'CRRET' : final, lastError }),
    );
    if (next === undefined) return undefined;
    logger.warn({ ...ids(reply), retries, status: next.status }, lastError);
    return next.state === 'queued' ? next : undefined;
  }

  async function fail(reply: OutboxReply, reason: string): Promise<undefined> {
    await write(reply, 'that the reply failed', () => store.replies.markExchangeFailed(reply.id, reason));
    logger.warn(ids(reply), `CRSUC failed, nothing was sent to Concur: ${reason}`);
    return undefined;
  }

  /** Concur could not answer: again after a backoff inside the token's window, else the CRRET way. */
  async function unavailable(reply: OutboxReply, error: ExchangeError, tokenExpiresAt: string | null): Promise<OutboxReply | undefined> {
    const delay = Math.max(
      1,
      backoffDelay({
        attempt: reply.exchangeAttempts + 1,
        baseMs: deps.baseDelayMs,
        maxMs: deps.maxDelayMs,
        retryAfterSeconds: error.details.retryAfterSeconds,
        random: deps.random,
      }),
    );
    const nextAttemptAt = now() + delay;
    // The token's life as the relay takes it (shared/status.ts REQUEST_TOKEN_LIFETIME_MS): past it, only a new token helps.
    const windowEnds = tokenExpiresAt === null ? Number.NEGATIVE_INFINITY : Date.parse(tokenExpiresAt);
    const said = `the exchange of the request token failed: ${error.message.replace(/\.+$/, '')}`;
    if (nextAttemptAt >= windowEnds) return newTokenNeeded(reply, `${said}, and the request token's time is up (${tokenExpiresAt ?? 'no token'})`, 'CRPA2');
    const lastError = `${said}; next try at ${iso(nextAttemptAt)}`;
    await write(reply, 'the next try of an exchange', () => store.replies.markExchangeRetry(reply.id, { nextAttemptAt, lastError }));
    logger.warn({ ...ids(reply), kind: error.kind, httpStatus: error.details.status, nextAttemptAt: iso(nextAttemptAt) }, lastError);
    return undefined;
  }

  async function run(reply: OutboxReply, setup: ExchangeSetup): Promise<OutboxReply | undefined> {
    const facts = await write(reply, 'the request', () => store.replies.exchangeFacts(reply.requestId));
    const requestToken = await write(reply, 'the request token', () => store.requests.getRequestToken(reply.requestId));
    if (facts === undefined || requestToken === undefined) return undefined;
    if (setup.form === 'password' && facts.userId === null) {
      // Concur gives userId from API 3.2 on: a new token would not have one either, so no CRRET.
      return fail(reply, "the password grant (CONCUR_EXCHANGE=password) needs the request's userId, which Concur did not give; API 3.0's request tokens are exchanged with CONCUR_EXCHANGE=legacy");
    }
    const started = await write(reply, 'that the exchange starts', () => store.replies.markExchanging(reply.id, facts.tokenIssuedAt));
    if (started?.state !== 'exchanging') return undefined;
    if (requestToken === null) return newTokenNeeded(started, 'Concur has given no request token for this request', 'CRPA1');

    let tokens: UserTokens;
    try {
      tokens = await setup.client.exchange({ requestToken, userId: facts.userId });
    } catch (error) {
      const refused = error instanceof ExchangeError ? error : new ExchangeError('unavailable', 'an internal error in the relay');
      if (!(error instanceof ExchangeError)) logger.error({ ...ids(reply), err: error }, 'the exchange failed unexpectedly');
      switch (refused.kind) {
        case 'token_refused':
          return newTokenNeeded(started, `Concur refused the request token (${refused.message})`, 'CRPA1');
        case 'credentials_refused': {
          const reason = `Concur refused the partner's client credentials (CONCUR_CLIENT_ID, CONCUR_CLIENT_SECRET): ${refused.message}`;
          // Before the reply's change, so that the summary its event brings says so.
          await write(reply, 'that the exchange is unavailable', () => store.state.setExchangeStatus({ state: 'unavailable', reason }));
          return fail(started, reason);
        }
        case 'unavailable':
        case 'bad_response':
          return unavailable(started, refused, facts.tokenExpiresAt);
      }
    }
    const stored = await write(started, "the traveller's tokens (the CRRET way follows)", () =>
      store.replies.markExchanged(reply.id, { form: setup.form, tokens, nextRefreshAt: nextRefreshOf(tokens, now()) }),
    );
    if (stored === undefined || stored.connection === null) return undefined;
    logger.info({ ...ids(reply), connectionId: stored.connection.id }, "request token exchanged, the traveller's tokens stored; sending CRSUC");
    const status = await write(reply, 'the exchange status', () => store.state.exchangeStatus());
    if (status?.state === 'unavailable') {
      await write(reply, 'that the exchange works', () => store.state.setExchangeStatus({ state: 'ok', reason: null }));
    }
    return stored.reply;
  }

  return async (reply) => {
    if (reply.state === 'exchanging') {
      return newTokenNeeded(reply, "the relay stopped while exchanging the request token and never stored Concur's answer (the token may be spent)", 'CRPA1');
    }
    const needsExchange = reply.state === 'waiting_token' || (reply.state === 'queued' && reply.status === 'CRSUC' && !reply.exchanged);
    if (!needsExchange) return reply;
    if (exchange === null) {
      const said = await write(reply, 'the exchange status', () => store.state.exchangeStatus());
      const reason = said?.reason ?? 'the relay has no partner client credentials (CONCUR_CLIENT_ID, CONCUR_CLIENT_SECRET)';
      return fail(reply, `CRSUC needs the request token exchanged first, and the relay cannot exchange: ${reason}`);
    }
    return run(reply, exchange);
  };
}
