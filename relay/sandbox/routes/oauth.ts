import type { CallRecord } from '../calls.js';
import type { SandboxContext } from '../context.js';
import { type ConcurFormat, writeAccessToken } from '../format/index.js';
import { JSON_TYPE, contentType, queryParams } from '../http.js';
import { legacyAccessToken, uuid } from '../random.js';
import { concurError, type SandboxContextC } from './wrap.js';

/** Where partners get tokens: the legacy request-token exchange and the OAuth 2.0 token endpoint. */

const ONE_YEAR_MS = 365 * 24 * 60 * 60 * 1000;

/** Concur's legacy Expiration_Date: `3/30/2013 2:19:10 PM` (UTC). */
function legacyDate(ms: number): string {
  const d = new Date(ms);
  const hours = d.getUTCHours() % 12 || 12;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${hours}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCHours() < 12 ? 'AM' : 'PM'}`;
}

/** `GET /net2/oauth2/getaccesstoken.ashx?code=…&client_id=…&client_secret=…` */
export function exchange(ctx: SandboxContext, c: SandboxContextC, format: ConcurFormat): Response {
  const url = new URL(c.req.url);
  const params = queryParams(url);
  const code = params.get('code') ?? '';
  const { clientId, clientSecret } = ctx.auth.credentials;
  if (params.get('client_id') !== clientId || params.get('client_secret') !== clientSecret) {
    return concurError(ctx, 401, 'Invalid client_id or client_secret.', format);
  }
  if (code === '') return concurError(ctx, 400, 'The code parameter (the request token) is required.', format);
  const outcome = ctx.state.exchange(code);
  if (!outcome.ok) return concurError(ctx, 400, outcome.message, format);
  // The user's own access token, for the partner to keep: not accepted on the Connection Requests routes.
  const answer = {
    instanceUrl: `${url.origin}/`,
    token: legacyAccessToken(),
    expires: legacyDate(ctx.clock.now() + ONE_YEAR_MS),
    refreshToken: uuid(),
  };
  return new Response(writeAccessToken(answer, format), { status: 200, headers: { 'Content-Type': contentType(format) } });
}

/** `POST /oauth2/v0/token` (form-encoded; JSON answers whatever was asked). */
export async function token(ctx: SandboxContext, c: SandboxContextC, call: CallRecord): Promise<Response> {
  const form = new URLSearchParams(await c.req.text());
  call.grantType = form.get('grant_type');
  const answer = ctx.auth.token(form, new URL(c.req.url).origin);
  return new Response(JSON.stringify(answer.body), {
    status: answer.status,
    headers: { 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-store' },
  });
}
