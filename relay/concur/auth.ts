import { z } from 'zod';
import { ConcurError } from './errors.js';
import { type CallObserver, parseRetryAfter, send } from './http.js';
import { AllowedOrigins } from './origins.js';

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
  onRefreshToken?: (refreshToken: string) => void;
  /** Told how each call to the token endpoint ended and how long it took (the relay's latency metrics). */
  observe?: CallObserver;
  /**
   * A token to use first, with its own scheme (CONCUR_ACCESS_TOKEN beside the grant), until Concur
   * refuses it (`renew()`); from then on the grant's tokens.
   */
  initial?: { token: string; scheme: AuthScheme };
}

// Concur documents expires_in as a string in one place and a number in another.
const TokenResponse = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
  refresh_token: z.string().min(1).optional(),
});

const TokenError = z.object({
  error: z.string().optional(),
  error_description: z.string().optional(),
  code: z.union([z.number(), z.string()]).optional(),
});

/** Renew this long before Concur's expiry (or a tenth of the lifetime when that is shorter). */
const EARLY_MS = 60_000;

export function refreshTokenGrant(options: RefreshGrantOptions): TokenProvider {
  const now = options.now ?? Date.now;
  const scheme = options.scheme ?? 'Bearer';
  let refreshToken = options.refreshToken;
  let current: { token: string; renewAt: number; scheme: AuthScheme } | undefined =
    options.initial === undefined ? undefined : { ...options.initial, renewAt: Number.POSITIVE_INFINITY };
  let inFlight: Promise<void> | undefined;

  // The client secret and refresh token go to the configured token URL and nowhere else.
  let allowed: AllowedOrigins | undefined;

  async function refresh(): Promise<void> {
    allowed ??= new AllowedOrigins([options.tokenUrl]);
    const res = await send({
      method: 'POST',
      url: options.tokenUrl,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: options.clientId,
        client_secret: options.clientSecret,
        refresh_token: refreshToken,
      }).toString(),
      timeoutMs: options.timeoutMs ?? 30_000,
      maxBytes: 64 * 1024,
      allowedOrigins: allowed,
      observe: options.observe,
    });
    if (res.status === 429) {
      throw new ConcurError('rate_limited', 'token refresh: rate limited by Concur', {
        status: 429,
        retryAfterSeconds: parseRetryAfter(res.headers.get('retry-after')),
      });
    }
    if (res.status >= 500) {
      throw new ConcurError('unavailable', `token refresh: Concur answered ${res.status}`, { status: res.status });
    }
    const json = safeJson(res.body);
    if (res.status !== 200) {
      const err = TokenError.safeParse(json);
      const said = err.success
        ? [err.data.error, err.data.error_description, err.data.code !== undefined ? `code ${err.data.code}` : undefined]
            .filter(Boolean)
            .join(': ')
        : `HTTP ${res.status}`;
      throw new ConcurError('unauthorized', `token refresh refused by Concur (${said})`, {
        status: res.status,
        concurMessage: err.success ? err.data.error_description : undefined,
      });
    }
    const parsed = TokenResponse.safeParse(json);
    if (!parsed.success) {
      throw new ConcurError('bad_response', `token refresh: unexpected answer (${z.prettifyError(parsed.error)})`);
    }
    const lifetimeMs = parsed.data.expires_in * 1000;
    current = { token: parsed.data.access_token, renewAt: now() + lifetimeMs - Math.min(EARLY_MS, lifetimeMs / 10), scheme };
    if (parsed.data.refresh_token && parsed.data.refresh_token !== refreshToken) {
      refreshToken = parsed.data.refresh_token;
      options.onRefreshToken?.(refreshToken);
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
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
