import type { Clock } from './clock.js';
import { fakeJwt, legacyAccessToken, secureChars, uuid } from './random.js';

/**
 * Access tokens for the Concur routes, and the OAuth 2.0 token endpoint that issues them.
 * - one static token (legacy style, like the seed's `H+IumY5p1W3U1QQ/X9T4AlcboHU=`) that never expires;
 * - tokens issued by `POST /oauth2/v0/token`, which expire after `accessTokenTtlSeconds` on the sandbox clock.
 */

/** Concur: "The refresh token lives six months." */
export const REFRESH_TOKEN_TTL_MS = 180 * 24 * 60 * 60 * 1000;

export const FORBIDDEN_MESSAGE = 'Forbidden. Please check your Instance URL and OAuth token.';
export const UNAUTHORIZED_MESSAGE = 'Unauthorized. The Authorization header is missing from the request.';

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

export interface TokenAnswer {
  status: 200 | 400 | 401;
  body: Record<string, unknown>;
}

interface IssuedToken {
  expiresAt: number;
  grant: 'refresh_token' | 'client_credentials';
}

export class AuthState {
  readonly credentials: Credentials;
  readonly accessTokenTtlSeconds: number;
  readonly #access = new Map<string, IssuedToken>();
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
    if (token === this.credentials.accessToken) return this.#staticRevoked ? 'expired' : 'ok';
    const issued = this.#access.get(token);
    if (!issued) return 'unknown';
    return this.clock.now() >= issued.expiresAt ? 'expired' : 'ok';
  }

  /** Expires every OAuth-issued access token now (and the static one too when asked). Returns how many. */
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

  /** `POST /oauth2/v0/token`, with Concur's answers and error codes (apidoc, "Response Codes"). */
  token(form: URLSearchParams, geolocation: string): TokenAnswer {
    const fail = (status: 400 | 401, error: string, description: string, code: number): TokenAnswer => ({
      status,
      body: { error, error_description: description, code, geolocation },
    });
    const grant = form.get('grant_type');
    const clientId = form.get('client_id');
    const clientSecret = form.get('client_secret');
    if (!grant) return fail(400, 'invalid_request', 'grant_type was not supplied', 65);
    if (grant !== 'refresh_token' && grant !== 'client_credentials') {
      return fail(400, 'unsupported_grant_type', `grant_type ${grant} is not supported here`, 60);
    }
    if (!clientId) return fail(400, 'invalid_request', 'client_id was not supplied', 62);
    if (!clientSecret) return fail(400, 'invalid_request', 'client_secret was not supplied', 63);
    if (clientId !== this.credentials.clientId || clientSecret !== this.credentials.clientSecret) {
      return fail(401, 'invalid_grant', 'Incorrect Credentials. Please Retry', 5);
    }
    const now = this.clock.now();
    let refreshToken: string | undefined;
    let refreshExpiresAt: number | undefined;
    if (grant === 'refresh_token') {
      const presented = form.get('refresh_token');
      if (!presented) return fail(400, 'invalid_request', 'refresh_token was not supplied', 106);
      const expiresAt = this.#refresh.get(presented);
      if (expiresAt === undefined || now >= expiresAt) {
        return fail(400, 'invalid_grant', 'bad or expired refresh token', 108);
      }
      // Rotation: Concur may hand out a new refresh token, and says to overwrite the old one.
      this.#refresh.delete(presented);
      refreshToken = uuid();
      refreshExpiresAt = now + REFRESH_TOKEN_TTL_MS;
      this.#refresh.set(refreshToken, refreshExpiresAt);
    }
    const ttlMs = this.accessTokenTtlSeconds * 1000;
    const iat = Math.floor(now / 1000);
    const accessToken = fakeJwt({
      iss: geolocation,
      sub: this.credentials.clientId,
      aud: '*',
      'concur.scopes': ['CONNECTIONREQUESTS'],
      jti: secureChars(16),
      iat,
      exp: iat + this.accessTokenTtlSeconds,
    });
    this.#access.set(accessToken, { expiresAt: now + ttlMs, grant });
    const body: Record<string, unknown> = {
      expires_in: String(this.accessTokenTtlSeconds),
      scope: 'CONNECTIONREQUESTS',
      token_type: 'Bearer',
      access_token: accessToken,
    };
    if (refreshToken !== undefined && refreshExpiresAt !== undefined) {
      body.refresh_token = refreshToken;
      body.refresh_expires_in = Math.floor(refreshExpiresAt / 1000);
    }
    if (grant === 'refresh_token') {
      // A user's grant carries an OpenID id_token; Concur's client_credentials example has none.
      body.id_token = fakeJwt({ iss: geolocation, sub: uuid(), aud: this.credentials.clientId, iat, exp: iat + 3600 });
    }
    body.geolocation = geolocation;
    return { status: 200, body };
  }
}
