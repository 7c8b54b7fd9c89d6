import type { CallObserver } from './http.js';
import { AllowedOrigins } from './origins.js';
import { callTokenEndpoint, geolocationOf, renewAt } from './token-endpoint.js';

/**
 * Where the Authorization header comes from: a static token, or the OAuth 2.0 refresh-token
 * grant, which renews the short-lived access token before it expires.
 */
export type AuthScheme = 'OAuth' | 'Bearer';

export interface TokenProvider {
  /** The header value for the next call, e.g. `OAuth abc…`. */
  authorization(): Promise<string>;
  /** Called after a 401/403: true if a fresh token was obtained and the call is worth repeating. */
  renew(): Promise<boolean>;
  /**
   * API 3.2: the origin the current token's answer named as its `geolocation`, where calls with it
   * go; null until a token names one (and for tokens that never do, a static one or a 3.0 grant).
   */
  geolocation?(): string | null;
}

export function staticToken(token: string, scheme: AuthScheme = 'OAuth'): TokenProvider {
  return {
    authorization: async () => `${scheme} ${token}`,
    renew: async () => false,
  };
}

export interface RefreshGrantOptions {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  scheme?: AuthScheme;
  timeoutMs?: number;
  now?: () => number;
  /** Concur may rotate the refresh token on every refresh; the caller should store the new one. */
  onRefreshToken?: (refreshToken: string) => void | Promise<void>;
  /** Told how each call to the token endpoint ended and how long it took (the relay's latency metrics). */
  observe?: CallObserver;
  /**
   * A token to use first, with its own scheme (CONCUR_ACCESS_TOKEN beside the grant), until Concur
   * refuses it (`renew()`); from then on the grant's tokens.
   */
  initial?: { token: string; scheme: AuthScheme };
}

export function refreshTokenGrant(options: RefreshGrantOptions): TokenProvider {
  const now = options.now ?? Date.now;
  const scheme = options.scheme ?? 'Bearer';
  let refreshToken = options.refreshToken;
  let current: { token: string; renewAt: number; scheme: AuthScheme } | undefined =
    options.initial === undefined ? undefined : { ...options.initial, renewAt: Number.POSITIVE_INFINITY };
  let inFlight: Promise<void> | undefined;
  // API 3.2: the grant's tokens name the geolocation they are used at (null for the initial static token).
  let geolocation: string | null = null;

  // The client secret and refresh token go to the configured token URL and nowhere else.
  let allowed: AllowedOrigins | undefined;

  async function refresh(): Promise<void> {
    allowed ??= new AllowedOrigins([options.tokenUrl]);
    const answer = await callTokenEndpoint({
      tokenUrl: options.tokenUrl,
      allowed,
      form: { grant_type: 'refresh_token', client_id: options.clientId, client_secret: options.clientSecret, refresh_token: refreshToken },
      timeoutMs: options.timeoutMs ?? 30_000,
      observe: options.observe,
      what: 'token refresh',
    });
    geolocation = geolocationOf(answer, options.tokenUrl, 'token refresh');
    current = { token: answer.access_token, renewAt: renewAt(now(), answer.expires_in), scheme };
    if (answer.refresh_token && answer.refresh_token !== refreshToken) {
      refreshToken = answer.refresh_token;
      await options.onRefreshToken?.(refreshToken);
    }
  }

  // Concurrent callers share one refresh: a rotating refresh token may only be used once.
  function refreshOnce(): Promise<void> {
    inFlight ??= refresh().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  return {
    async authorization() {
      if (!current || now() >= current.renewAt) await refreshOnce();
      return `${current!.scheme} ${current!.token}`;
    },
    async renew() {
      current = undefined;
      await refreshOnce();
      return true;
    },
    geolocation: () => (current === undefined || current.renewAt === Number.POSITIVE_INFINITY ? null : geolocation),
  };
}
