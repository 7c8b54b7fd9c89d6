import type { Clock } from './clock.js';
import { fakeJwt, legacyAccessToken, secureChars, uuid } from './random.js';

/**
 * The partner app's own credentials: what authenticates its calls to the Connection Requests routes.
 * - one static token (legacy style, like the seed's `H+IumY5p1W3U1QQ/X9T4AlcboHU=`) that never expires;
 * - OAuth 2.0 tokens issued to the app by `POST /oauth2/v0/token` (client_credentials, or the
 *   refresh grant with the app's refresh token), which expire after `accessTokenTtlSeconds` on the
 *   sandbox clock. Travellers' tokens are another thing, kept in users.ts.
 */

/** Concur: "The refresh token lives six months." */
export const REFRESH_TOKEN_TTL_MS = 180 * 24 * 60 * 60 * 1000;

export const FORBIDDEN_MESSAGE = 'Forbidden. Please check your Instance URL and OAuth token.';
export const UNAUTHORIZED_MESSAGE = 'Unauthorized. The Authorization header is missing from the request.';

/** What the app's OAuth 2.0 tokens may do. */
export const APP_SCOPE = 'CONNECTIONREQUESTS';

export interface Credentials {
  /** The static access token: never expires (unless revoked with `POST /_sandbox/tokens/expire {includeStatic:true}`). */
  accessToken: string;
  clientId: string;
  clientSecret: string;
  /** The first refresh token. The refresh grant rotates it: after one use, only the new one works. */
  refreshToken: string;
}

export interface AuthOptions {
  accessTokenTtlSeconds?: number;
  staticAccessToken?: string;
  clientId?: string;
  clientSecret?: string;
  refreshToken?: string;
}

export type AuthScheme = 'OAuth' | 'Bearer';

export type AuthHeader =
  | { kind: 'missing' }
  | { kind: 'malformed'; scheme: string | null }
  | { kind: 'token'; scheme: AuthScheme; token: string };

/** `Authorization: OAuth <token>` (legacy v3.0) or `Bearer <token>`; scheme names in any case. */
export function parseAuthorization(header: string | undefined): AuthHeader {
  if (header === undefined || header.trim() === '') return { kind: 'missing' };
  const match = /^\s*(\S+)(?:\s+(\S+))?\s*$/.exec(header);
  const scheme = match?.[1] ?? null;
  const token = match?.[2];
  const lower = scheme?.toLowerCase();
  if (!token || (lower !== 'oauth' && lower !== 'bearer')) return { kind: 'malformed', scheme };
  return { kind: 'token', scheme: lower === 'oauth' ? 'OAuth' : 'Bearer', token };
}

export type TokenCheck = 'ok' | 'expired' | 'unknown';

/** The app's token as the sandbox knows it: the static one, or a JWT from the token endpoint. */
export type AppTokenCheck = { state: TokenCheck; jwt: boolean };

export type AppRefresh = { ok: true; refreshToken: string; expiresAt: number } | { ok: false };

export class AuthState {
  readonly credentials: Credentials;
  readonly accessTokenTtlSeconds: number;
  /** access token → when it expires. */
  readonly #access = new Map<string, { expiresAt: number }>();
  /** refresh token → when it expires. */
  readonly #refresh = new Map<string, number>();
  #staticRevoked = false;

  constructor(
    private readonly clock: Clock,
    options: AuthOptions = {},
  ) {
    this.accessTokenTtlSeconds = options.accessTokenTtlSeconds ?? 3600;
    this.credentials = {
      accessToken: options.staticAccessToken ?? legacyAccessToken(),
      clientId: options.clientId ?? uuid(),
      clientSecret: options.clientSecret ?? uuid(),
      refreshToken: options.refreshToken ?? uuid(),
    };
    this.#refresh.set(this.credentials.refreshToken, clock.now() + REFRESH_TOKEN_TTL_MS);
  }

  check(token: string): TokenCheck {
    return this.inspect(token).state;
  }

  inspect(token: string): AppTokenCheck {
    if (token === this.credentials.accessToken) return { state: this.#staticRevoked ? 'expired' : 'ok', jwt: false };
    const issued = this.#access.get(token);
    if (!issued) return { state: 'unknown', jwt: false };
    return { state: this.clock.now() >= issued.expiresAt ? 'expired' : 'ok', jwt: true };
  }

  clientMatches(clientId: string, clientSecret: string): boolean {
    return clientId === this.credentials.clientId && clientSecret === this.credentials.clientSecret;
  }

  /** Expires every OAuth-issued access token of the app now (and the static one too when asked). Returns how many. */
  expireAll(options: { includeStatic?: boolean } = {}): number {
    const now = this.clock.now();
    let count = 0;
    for (const issued of this.#access.values()) {
      if (issued.expiresAt > now) {
        issued.expiresAt = now;
        count++;
      }
    }
    if (options.includeStatic && !this.#staticRevoked) {
      this.#staticRevoked = true;
      count++;
    }
    return count;
  }

  /** Undoes a revocation of the static token (part of `POST /_sandbox/reset`). Issued tokens stay as they are. */
  restoreStatic(): void {
    this.#staticRevoked = false;
  }

  /** Whether this is one of the app's refresh tokens (live or expired), so a traveller's is never taken for it. */
  isAppRefreshToken(token: string): boolean {
    return this.#refresh.has(token);
  }

  /** Spends the app's refresh token for a new one (rotation: Concur says to overwrite the old one). */
  rotateRefresh(presented: string): AppRefresh {
    const expiresAt = this.#refresh.get(presented);
    const now = this.clock.now();
    if (expiresAt === undefined || now >= expiresAt) return { ok: false };
    this.#refresh.delete(presented);
    const refreshToken = uuid();
    const next = now + REFRESH_TOKEN_TTL_MS;
    this.#refresh.set(refreshToken, next);
    return { ok: true, refreshToken, expiresAt: next };
  }

  /** A new OAuth 2.0 access token for the app, a JWT that looks like Concur's. */
  issueAccess(geolocation: string): string {
    const now = this.clock.now();
    const iat = Math.floor(now / 1000);
    const accessToken = fakeJwt({
      iss: geolocation,
      sub: this.credentials.clientId,
      aud: '*',
      'concur.scopes': [APP_SCOPE],
      jti: secureChars(16),
      iat,
      exp: iat + this.accessTokenTtlSeconds,
    });
    this.#access.set(accessToken, { expiresAt: now + this.accessTokenTtlSeconds * 1000 });
    return accessToken;
  }
}
