import type { Connection, ConnectionToken } from '../../shared/connections.js';
import type { Logger } from '../base/log.js';
import type { ExchangeClient } from '../concur/exchange.js';
import { UnknownConnectionError, type Actor, type Audit, type Connections, type OpenedTokens } from '../store/index.js';
import type { Refresher } from './refresher.js';

/**
 * What the API does with a connection's tokens: hands a traveller's access token to the
 * partner's back office (the broker's route), and revokes a connection (an admin's).
 *
 * A token is handed out fresh: with under 5 minutes left it is refreshed first (through the
 * refresher, so never beside a refresh of the same connection). Every token handed out is in the
 * audit trail (`connection.token_read`, the caller as actor, the expiry, never the token) before
 * the answer goes; a call that hands out nothing (unknown, revoked, broken, Concur unavailable)
 * reads no token and is not audited.
 *
 * Revocation: at Concur first, then here. The tokens are needed to revoke at Concur (legacy
 * `revoketoken.ashx` names the grant by its access token; OAuth 2.0 `app-mgmt` authenticates
 * with it), so they cannot be erased before. Whatever Concur answers, the relay then erases
 * them: an admin who revokes wants the partner cut off now, and a Concur that is down or refuses
 * must not keep the tokens alive in the relay. What Concur said is part of the answer
 * (`concur`), the audit line and the log; a grant Concur did not revoke lapses on its own (OAuth
 * 2.0 refresh tokens after six months unused; legacy ones never, so the traveller may also
 * remove the app in Concur).
 */

/** Tokens are handed out with at least this long left, refreshed first when they have less. */
export const TOKEN_MIN_VALID_MS = 5 * 60_000;
/** What a client is asked to wait when Concur could not refresh a token it needs. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 30;

export type TokenRead =
  | { kind: 'token'; token: ConnectionToken }
  /** The connection is revoked or refresh_failed: it has no token to give. */
  | { kind: 'refused'; connection: Connection }
  /** Its token has under 5 minutes left and cannot be refreshed now. */
  | { kind: 'unavailable'; message: string; retryAfterSeconds: number };

/** What Concur made of a revocation: taken (or nothing left to revoke), not taken, or not asked. */
export const CONCUR_REVOCATIONS = ['revoked', 'failed', 'not_attempted'] as const;
export type ConcurRevocation = (typeof CONCUR_REVOCATIONS)[number];

export interface Revocation {
  connection: Connection;
  concur: ConcurRevocation;
}

export interface ConnectionBroker {
  /** The connection's access token, fresh for at least 5 minutes; throws UnknownConnectionError. */
  readToken(id: string, actor: Actor): Promise<TokenRead>;
  /** Revokes at Concur (where it can), then erases the tokens here; throws UnknownConnectionError. */
  revoke(id: string, actor: Actor): Promise<Revocation>;
}

export interface BrokerOptions {
  store: { connections: Pick<Connections, 'get' | 'tokens' | 'revoke'>; audit: Pick<Audit, 'append'> };
  /** null without the partner's credentials: nothing can be refreshed. */
  refresher: Pick<Refresher, 'refresh' | 'settled'> | null;
  /** null without the partner's credentials: revocations are the relay's alone. */
  concur: Pick<ExchangeClient, 'revoke'> | null;
  logger: Pick<Logger, 'info' | 'warn'>;
  now?: () => number;
}

export function createBroker(options: BrokerOptions): ConnectionBroker {
  const { store, refresher, concur, logger } = options;
  const now = options.now ?? Date.now;

  async function known(id: string): Promise<Connection> {
    const connection = await store.connections.get(id);
    if (connection === undefined) throw new UnknownConnectionError(id);
    return connection;
  }

  /** The tokens of an active connection, or the connection that has none to give. */
  async function open(id: string): Promise<{ tokens: OpenedTokens } | { refused: Connection }> {
    const tokens = await store.connections.tokens(id);
    return tokens !== undefined && tokens.state === 'active' ? { tokens } : { refused: await known(id) };
  }

  /** Refreshes a token that has too little time left: its new tokens, or why there are none. */
  async function renewed(id: string, held: OpenedTokens): Promise<{ tokens: OpenedTokens } | { refused: Connection } | TokenRead> {
    const left = Date.parse(held.accessTokenExpiresAt) > now() ? `expires at ${held.accessTokenExpiresAt}, in under 5 minutes` : `expired at ${held.accessTokenExpiresAt}`;
    const unavailable = (why: string, retryAfterSeconds?: number): TokenRead => ({
      kind: 'unavailable',
      message: `the access token of connection ${id} ${left}, and ${why}; try again later`,
      retryAfterSeconds: Math.max(UNAVAILABLE_RETRY_AFTER_SECONDS, retryAfterSeconds ?? 0),
    });
    if (refresher === null) return unavailable("the relay cannot refresh it: it has no partner credentials (the client id and secret Concur's refresh needs)");
    const outcome = await refresher.refresh(id);
    switch (outcome.kind) {
      case 'refreshed':
      case 'not_due':
      case 'broken':
      case 'gone':
        return open(id);
      case 'busy':
        return unavailable('another relay is refreshing it right now');
      case 'deferred':
        return unavailable(`Concur could not refresh it just now (${outcome.reason})`, outcome.retryAfterSeconds);
      case 'failed':
        return unavailable(`the relay could not refresh it: ${outcome.reason}`);
    }
  }

  return {
    async readToken(id, actor) {
      const opened = await open(id);
      if ('refused' in opened) return { kind: 'refused', connection: opened.refused };
      let held = opened.tokens;
      let wasRefreshed = false;
      if (Date.parse(held.accessTokenExpiresAt) - now() < TOKEN_MIN_VALID_MS) {
        const after = await renewed(id, held);
        if ('kind' in after) return after;
        if ('refused' in after) return { kind: 'refused', connection: after.refused };
        held = after.tokens;
        wasRefreshed = true;
      }
      // Written before the token leaves: a read the trail cannot hold is not answered (the store's 503).
      await store.audit.append({
        actor,
        action: 'connection.token_read',
        target: id,
        details: { expiresAt: held.accessTokenExpiresAt, refreshed: wasRefreshed },
      });
      return {
        kind: 'token',
        token: { accessToken: held.accessToken, tokenType: 'Bearer', expiresAt: held.accessTokenExpiresAt, instanceUrl: held.instanceUrl },
      };
    },

    async revoke(id, actor) {
      const before = await known(id);
      if (before.state === 'revoked') return { connection: before, concur: 'not_attempted' };
      // A refresh under way would otherwise hand Concur a token this revocation never saw.
      await refresher?.settled(id);
      const tokens = await store.connections.tokens(id);
      let said: ConcurRevocation = 'not_attempted';
      let reason: string | null = concur === null ? 'the relay has no partner credentials' : null;
      if (concur !== null && tokens !== undefined) {
        try {
          await concur.revoke(tokens);
          said = 'revoked';
        } catch (error) {
          said = 'failed';
          reason = error instanceof Error ? error.message : String(error);
        }
      }
      const connection = await store.connections.revoke(id, actor, { concur: said, ...(reason === null ? {} : { concurError: reason }) });
      if (said === 'failed') {
        logger.warn({ connectionId: id, reason }, 'Concur did not take the revocation of a connection; its tokens are erased here all the same');
      } else {
        logger.info({ connectionId: id, concur: said }, 'revoked a connection');
      }
      return { connection, concur: said };
    },
  };
}
