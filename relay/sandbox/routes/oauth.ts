import { type CallRecord, redactParams } from '../calls.js';
import type { SandboxContext } from '../context.js';
import { type ConcurFormat, writeAccessToken } from '../format/index.js';
import { tokenEndpoint } from '../grants.js';
import { JSON_TYPE, contentType, queryParams } from '../http.js';
import { type Issued, travellerOf } from '../users.js';
import { concurError, type SandboxContextC } from './wrap.js';

/**
 * Where partners get travellers' tokens: the legacy getaccesstoken.ashx (exchange of a request
 * token, and refresh) and the OAuth 2.0 token endpoint (grants.ts).
 */

/** Concur's legacy Expiration_Date: `3/30/2013 2:19:10 PM` (UTC). */
function legacyDate(ms: number): string {
  const d = new Date(ms);
  const hours = d.getUTCHours() % 12 || 12;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${hours}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCHours() < 12 ? 'AM' : 'PM'}`;
}

/** For the fault book: a legacy call is a refresh when it carries refresh_token. */
export function classifyLegacy(c: SandboxContextC, call: CallRecord): boolean {
  const refresh = queryParams(new URL(c.req.url)).has('refresh_token');
  if (refresh) call.grantType = 'refresh_token';
  return refresh;
}

/** For the fault book and the log: the token route's form, read once (Hono keeps the body). */
export async function classifyToken(c: SandboxContextC, call: CallRecord): Promise<boolean> {
  const form = new URLSearchParams(await c.req.text());
  call.grantType = form.get('grant_type');
  // Only a form is logged: another body parsed as one could put a secret into a parameter's name.
  const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') call.form = redactParams(form);
  return call.grantType === 'refresh_token';
}

/**
 * `GET /net2/oauth2/getaccesstoken.ashx?code=…&client_id=…&client_secret=…` (exchange) or
 * `?refresh_token=…&client_id=…&client_secret=…` (refresh: a new one-year token; the refresh
 * token stays the same, as old-world refresh tokens live forever).
 */
export function legacyToken(ctx: SandboxContext, c: SandboxContextC, format: ConcurFormat): Response {
  const url = new URL(c.req.url);
  const params = queryParams(url);
  const code = params.get('code') ?? '';
  const refreshToken = params.get('refresh_token');
  if (!ctx.auth.clientMatches(params.get('client_id') ?? '', params.get('client_secret') ?? '')) {
    return concurError(ctx, 401, 'Invalid client_id or client_secret.', format);
  }
  const answer = (issued: Issued, withRefresh: boolean): Response =>
    new Response(
      writeAccessToken(
        {
          instanceUrl: `${url.origin}/`,
          token: issued.accessToken,
          expires: legacyDate(issued.accessExpiresAt),
          refreshToken: withRefresh ? issued.refreshToken : null,
        },
        format,
      ),
      { status: 200, headers: { 'Content-Type': contentType(format), 'Cache-Control': 'no-store' } },
    );

  if (refreshToken !== undefined) {
    if (code !== '') return concurError(ctx, 400, 'Send either code or refresh_token, not both.', format);
    const issued = refreshToken === '' ? undefined : ctx.users.refresh('legacy', refreshToken, url.origin);
    if (!issued) return concurError(ctx, 400, 'Invalid refresh token: it is unknown or was revoked.', format);
    return answer(issued, ctx.quirks.legacyRefreshToken === 'echo');
  }
  if (code === '') return concurError(ctx, 400, 'The code parameter (the request token) is required.', format);
  const outcome = ctx.state.exchange(code);
  if (!outcome.ok) return concurError(ctx, 400, outcome.message, format);
  // The user's own tokens, for the partner to keep: not accepted on the Connection Requests routes.
  return answer(ctx.users.issue('legacy', travellerOf(outcome.request), url.origin), true);
}

/** `POST /oauth2/v0/token` (form-encoded; JSON answers whatever was asked). */
export async function token(ctx: SandboxContext, c: SandboxContextC): Promise<Response> {
  const form = new URLSearchParams(await c.req.text());
  const answer = tokenEndpoint(ctx, form, new URL(c.req.url).origin);
  return new Response(JSON.stringify(answer.body), {
    status: answer.status,
    headers: { 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-store' },
  });
}
