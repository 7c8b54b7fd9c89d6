import { z } from 'zod';
import { ConcurError } from './errors.js';
import { type CallObserver, parseRetryAfter, send } from './http.js';
import type { AllowedOrigins } from './origins.js';

/**
 * One call to Concur's OAuth 2.0 token endpoint (`POST /oauth2/v0/token`, form-encoded) for the
 * relay's own token, and what its answer means: the refresh-token grant (auth.ts) and the
 * client-credentials grant (client-credentials.ts) differ only in the form they post.
 */

export interface TokenCall {
  tokenUrl: string;
  /** The token URL's origin alone: the form carries the client secret. */
  allowed: AllowedOrigins;
  form: Record<string, string>;
  timeoutMs: number;
  observe?: CallObserver;
  /** Names the grant in messages, e.g. `token refresh`. */
  what: string;
}

// Concur documents expires_in as a string in one place and a number in another.
const TokenAnswer = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
  refresh_token: z.string().min(1).optional(),
  // Checked by the caller that uses it (client-credentials.ts), which can say what is wrong with it.
  geolocation: z.string().optional(),
});
export type TokenAnswer = z.infer<typeof TokenAnswer>;

const TokenError = z.object({
  error: z.string().optional(),
  error_description: z.string().optional(),
  code: z.union([z.number(), z.string()]).optional(),
});

export async function callTokenEndpoint(call: TokenCall): Promise<TokenAnswer> {
  const res = await send({
    method: 'POST',
    url: call.tokenUrl,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(call.form).toString(),
    timeoutMs: call.timeoutMs,
    maxBytes: 64 * 1024,
    allowedOrigins: call.allowed,
    observe: call.observe,
  });
  if (res.status === 429) {
    throw new ConcurError('rate_limited', `${call.what}: rate limited by Concur`, {
      status: 429,
      retryAfterSeconds: parseRetryAfter(res.headers.get('retry-after')),
    });
  }
  if (res.status >= 500) {
    throw new ConcurError('unavailable', `${call.what}: Concur answered ${res.status}`, { status: res.status });
  }
  const json = safeJson(res.body);
  if (res.status !== 200) {
    const err = TokenError.safeParse(json);
    const said = err.success
      ? [err.data.error, err.data.error_description, err.data.code !== undefined ? `code ${err.data.code}` : undefined]
          .filter(Boolean)
          .join(': ')
      : `HTTP ${res.status}`;
    throw new ConcurError('unauthorized', `${call.what} refused by Concur (${said})`, {
      status: res.status,
      concurMessage: err.success ? err.data.error_description : undefined,
    });
  }
  const parsed = TokenAnswer.safeParse(json);
  if (!parsed.success) {
    throw new ConcurError('bad_response', `${call.what}: unexpected answer (${z.prettifyError(parsed.error)})`);
  }
  return parsed.data;
}

/**
 * The origin a token answer names as its `geolocation` (API 3.2: where every call with that token
 * goes), or null when it names none. The answer comes from the configured token URL, but its
 * geolocation receives the token, so it must be a plain origin, and https unless the token URL
 * itself is http (a test on loopback): never a downgrade.
 */
export function geolocationOf(answer: TokenAnswer, tokenUrl: string, what: string): string | null {
  const raw = answer.geolocation?.trim();
  if (raw === undefined || raw === '') return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConcurError('bad_response', `${what}: the geolocation is not a URL`);
  }
  const httpAllowed = new URL(tokenUrl).protocol === 'http:';
  if (!(url.protocol === 'https:' || (httpAllowed && url.protocol === 'http:')) || url.username !== '' || url.password !== '') {
    throw new ConcurError('bad_response', `${what}: the geolocation must be an https origin (got a ${url.protocol.replace(/:$/, '').slice(0, 20)} URL)`);
  }
  return url.origin;
}

/** Renew this long before Concur's expiry (or a tenth of the lifetime when that is shorter). */
const EARLY_MS = 60_000;

/** When a token that lives `expiresInSeconds` from `now` should be renewed. */
export function renewAt(now: number, expiresInSeconds: number): number {
  const lifetimeMs = expiresInSeconds * 1000;
  return now + lifetimeMs - Math.min(EARLY_MS, lifetimeMs / 10);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
