import * as z from 'zod/mini';
import { IsoTime, pageOf, pagingOf } from './paging.js';

/**
 * A connection: what Concur's CRSUC stands for. The relay exchanged the traveller's request token
 * for the traveller's own access and refresh tokens and keeps them (sealed in its vault); this
 * model is everything about it but the tokens, which only a broker key reads
 * (`POST /api/v1/connections/:id/token`).
 *
 * - active: the tokens work and are kept fresh;
 * - refresh_failed: Concur refused a refresh for good (the traveller must connect again);
 * - revoked: an admin revoked it; the tokens are erased.
 */
export const CONNECTION_STATES = ['active', 'refresh_failed', 'revoked'] as const;
export const ConnectionState = z.enum(CONNECTION_STATES);
export type ConnectionState = z.infer<typeof ConnectionState>;

export const Connection = z.object({
  id: z.string(),
  requestId: z.string(),
  concurUserId: z.nullable(z.string()),
  firstName: z.nullable(z.string()),
  lastName: z.nullable(z.string()),
  loyaltyNumber: z.nullable(z.string()),
  /** The partner's own member id, when its member directory named one (auto-connect). */
  memberId: z.nullable(z.string()),
  /** Where the traveller's calls go (legacy Instance_Url, or the OAuth 2.0 geolocation). */
  instanceUrl: z.string(),
  state: ConnectionState,
  connectedAt: IsoTime,
  /** Who asked for the CRSUC: a key's name, or `auto`. */
  connectedBy: z.string(),
  accessTokenExpiresAt: IsoTime,
  refreshTokenExpiresAt: z.nullable(IsoTime),
  lastRefreshedAt: z.nullable(IsoTime),
  lastError: z.nullable(z.string()),
});
export type Connection = z.infer<typeof Connection>;

export const ConnectionsPage = pageOf(Connection);
export type ConnectionsPage = z.infer<typeof ConnectionsPage>;

export const ConnectionsQuery = z.object({ state: z.optional(ConnectionState), ...pagingOf(200, 50) });
export type ConnectionsQuery = z.infer<typeof ConnectionsQuery>;

/** `POST /api/v1/connections/:id/token` (broker only): the traveller's access token, fresh for at least 5 minutes. */
export const ConnectionToken = z.object({
  accessToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresAt: IsoTime,
  instanceUrl: z.string(),
});
export type ConnectionToken = z.infer<typeof ConnectionToken>;

/** Whether the relay can exchange request tokens at all (partner credentials present and accepted). */
export const ExchangeStatus = z.object({
  state: z.enum(['ok', 'unavailable']),
  /** Why not, for people; null when ok. */
  reason: z.nullable(z.string()),
});
export type ExchangeStatus = z.infer<typeof ExchangeStatus>;
