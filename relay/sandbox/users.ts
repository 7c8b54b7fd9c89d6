import { REFRESH_TOKEN_TTL_MS } from './auth.js';
import { type Clock, isoTime } from './clock.js';
import { fakeJwt, legacyAccessToken, secureChars, uuid } from './random.js';
import type { SandboxRequest } from './state.js';

/**
 * The travellers' own tokens: what a partner gets when it turns a request token into a connection.
 * Each exchange makes one *grant* (one user, one request, one form) that lives until it is revoked:
 * - `legacy` (getaccesstoken.ashx): access tokens live one year; the refresh token lives forever
 *   ("old-world refresh tokens live forever") and does not rotate;
 * - `oauth` (password grant, credtype=authtoken): access tokens are JWTs that live one hour; the
 *   refresh token lives six months and rotates on every use.
 * A refresh mints a new access token; earlier ones keep working until their own expiry (as a JWT
 * would: nothing is documented about refreshing cutting them short). Revoking a grant stops all of
 * its access tokens and its refresh token at once.
 */

export const LEGACY_ACCESS_TTL_MS = 365 * 24 * 60 * 60 * 1000;
export const USER_ACCESS_TTL_SECONDS = 3600;
/** The legacy User Web Service scope: what `GET /api/user/v1.0/User` needs. */
export const USER_SCOPE = 'openid USER';

export type UserTokenForm = 'legacy' | 'oauth';
/** Which door a revocation came through. */
export type RevokedBy = 'revoketoken' | 'app-mgmt';

/** Who the tokens are for, copied from the request when they were issued (a reset does not forget them). */
export interface Traveller {
  requestId: string;
  userId: string;
  firstName: string | null;
  middleName: string | null;
  lastName: string | null;
}

export function travellerOf(request: SandboxRequest): Traveller {
  return {
    requestId: request.id,
    userId: request.userId,
    firstName: request.firstName,
    middleName: request.middleName,
    lastName: request.lastName,
  };
}

export interface UserGrant {
  readonly id: string;
  readonly form: UserTokenForm;
  readonly traveller: Traveller;
  readonly issuedAt: number;
  /** The expiry of every access token minted for this grant, oldest first (never the tokens themselves). */
  readonly access: Array<{ expiresAt: number }>;
  /** null: never (legacy). */
  refreshExpiresAt: number | null;
  refreshCount: number;
  lastRefreshedAt: number | null;
  revokedAt: number | null;
  revokedBy: RevokedBy | null;
}

export interface Issued {
  grant: UserGrant;
  accessToken: string;
  accessExpiresAt: number;
  refreshToken: string;
}

export type UserTokenCheck = { grant: UserGrant; state: 'ok' | 'expired' | 'revoked' };

/** How the control API shows a grant: no token values, times as ISO-8601. */
export interface UserGrantView {
  id: string;
  form: UserTokenForm;
  requestId: string;
  userId: string;
  firstName: string | null;
  lastName: string | null;
  issuedAt: string;
  /** The newest access token's expiry. */
  accessTokenExpiresAt: string;
  accessTokenExpired: boolean;
  /** Access tokens that would still be accepted now. */
  liveAccessTokens: number;
  refreshTokenExpiresAt: string | null;
  refreshTokenExpired: boolean;
  refreshCount: number;
  lastRefreshedAt: string | null;
  revoked: boolean;
  revokedAt: string | null;
  revokedBy: RevokedBy | null;
}

export class UserTokens {
  readonly #grants: UserGrant[] = [];
  readonly #byAccess = new Map<string, { grant: UserGrant; record: { expiresAt: number } }>();
  readonly #byRefresh = new Map<string, UserGrant>();
  readonly #refreshOf = new Map<UserGrant, string>();
  #seq = 0;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.#grants.length;
  }

  all(): UserGrant[] {
    return [...this.#grants];
  }

  /** A new grant after a successful exchange of a request token. */
  issue(form: UserTokenForm, traveller: Traveller, geolocation: string): Issued {
    const now = this.clock.now();
    const grant: UserGrant = {
      id: `grant-${++this.#seq}`,
      form,
      traveller,
      issuedAt: now,
      access: [],
      refreshExpiresAt: form === 'oauth' ? now + REFRESH_TOKEN_TTL_MS : null,
      refreshCount: 0,
      lastRefreshedAt: null,
      revokedAt: null,
      revokedBy: null,
    };
    this.#grants.push(grant);
    const refreshToken = uuid();
    this.#setRefresh(grant, refreshToken);
    const { accessToken, expiresAt } = this.#mint(grant, geolocation);
    return { grant, accessToken, accessExpiresAt: expiresAt, refreshToken };
  }

  /** What a presented access token is, if it is a traveller's. */
  check(token: string): UserTokenCheck | undefined {
    const found = this.#byAccess.get(token);
    if (!found) return undefined;
    if (found.grant.revokedAt !== null) return { grant: found.grant, state: 'revoked' };
    return { grant: found.grant, state: this.clock.now() >= found.record.expiresAt ? 'expired' : 'ok' };
  }

  /** Whether this is a traveller's refresh token of any form (so it is never taken for the app's). */
  isRefreshToken(token: string): boolean {
    return this.#byRefresh.has(token);
  }

  /**
   * A refresh of `form`'s grant: a new access token; for `oauth` also a new refresh token (the
   * presented one stops working). undefined when the token is unknown, spent, expired, revoked, or
   * of the other form (a legacy refresh token is no OAuth 2.0 refresh token, nor the reverse).
   */
  refresh(form: UserTokenForm, presented: string, geolocation: string): Issued | undefined {
    const grant = this.#byRefresh.get(presented);
    const now = this.clock.now();
    if (!grant || grant.form !== form || grant.revokedAt !== null) return undefined;
    if (grant.refreshExpiresAt !== null && now >= grant.refreshExpiresAt) return undefined;
    let refreshToken = presented;
    if (form === 'oauth') {
      refreshToken = uuid();
      this.#setRefresh(grant, refreshToken);
      grant.refreshExpiresAt = now + REFRESH_TOKEN_TTL_MS;
    }
    grant.refreshCount += 1;
    grant.lastRefreshedAt = now;
    const { accessToken, expiresAt } = this.#mint(grant, geolocation);
    return { grant, accessToken, accessExpiresAt: expiresAt, refreshToken };
  }

  /** Stops every token of the grant. False when it was revoked already. */
  revoke(grant: UserGrant, by: RevokedBy): boolean {
    if (grant.revokedAt !== null) return false;
    grant.revokedAt = this.clock.now();
    grant.revokedBy = by;
    const refreshToken = this.#refreshOf.get(grant);
    if (refreshToken !== undefined) this.#byRefresh.delete(refreshToken);
    this.#refreshOf.delete(grant);
    return true;
  }

  /** Revokes every live grant of a user (of one form, when given). Returns how many. */
  revokeUser(userId: string, by: RevokedBy, form?: UserTokenForm): number {
    let count = 0;
    for (const grant of this.#grants) {
      if (grant.traveller.userId !== userId || (form !== undefined && grant.form !== form)) continue;
      if (this.revoke(grant, by)) count++;
    }
    return count;
  }

  /** Expires the live access tokens of every traveller (or of one user) now. Returns how many. */
  expireAccess(userId?: string): number {
    const now = this.clock.now();
    let count = 0;
    for (const grant of this.#grants) {
      if (grant.revokedAt !== null || (userId !== undefined && grant.traveller.userId !== userId)) continue;
      for (const record of grant.access) {
        if (record.expiresAt > now) {
          record.expiresAt = now;
          count++;
        }
      }
    }
    return count;
  }

  view(grant: UserGrant): UserGrantView {
    const now = this.clock.now();
    const newest = grant.access.at(-1)?.expiresAt ?? grant.issuedAt;
    const revoked = grant.revokedAt !== null;
    return {
      id: grant.id,
      form: grant.form,
      requestId: grant.traveller.requestId,
      userId: grant.traveller.userId,
      firstName: grant.traveller.firstName,
      lastName: grant.traveller.lastName,
      issuedAt: isoTime(grant.issuedAt),
      accessTokenExpiresAt: isoTime(newest),
      accessTokenExpired: now >= newest,
      liveAccessTokens: revoked ? 0 : grant.access.filter((record) => record.expiresAt > now).length,
      refreshTokenExpiresAt: grant.refreshExpiresAt === null ? null : isoTime(grant.refreshExpiresAt),
      refreshTokenExpired: grant.refreshExpiresAt !== null && now >= grant.refreshExpiresAt,
      refreshCount: grant.refreshCount,
      lastRefreshedAt: grant.lastRefreshedAt === null ? null : isoTime(grant.lastRefreshedAt),
      revoked,
      revokedAt: grant.revokedAt === null ? null : isoTime(grant.revokedAt),
      revokedBy: grant.revokedBy,
    };
  }

  #setRefresh(grant: UserGrant, refreshToken: string): void {
    const previous = this.#refreshOf.get(grant);
    if (previous !== undefined) this.#byRefresh.delete(previous);
    this.#refreshOf.set(grant, refreshToken);
    this.#byRefresh.set(refreshToken, grant);
  }

  #mint(grant: UserGrant, geolocation: string): { accessToken: string; expiresAt: number } {
    const now = this.clock.now();
    let accessToken: string;
    let expiresAt: number;
    if (grant.form === 'legacy') {
      accessToken = legacyAccessToken();
      expiresAt = now + LEGACY_ACCESS_TTL_MS;
    } else {
      const iat = Math.floor(now / 1000);
      accessToken = fakeJwt({
        iss: geolocation,
        sub: grant.traveller.userId,
        aud: '*',
        'concur.type': 'user',
        'concur.scopes': USER_SCOPE.split(' '),
        jti: secureChars(16),
        iat,
        exp: iat + USER_ACCESS_TTL_SECONDS,
      });
      expiresAt = now + USER_ACCESS_TTL_SECONDS * 1000;
    }
    const record = { expiresAt };
    grant.access.push(record);
    this.#byAccess.set(accessToken, { grant, record });
    return { accessToken, expiresAt };
  }
}
