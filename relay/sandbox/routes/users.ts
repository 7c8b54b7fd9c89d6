import { FORBIDDEN_MESSAGE } from '../auth.js';
import type { SandboxContext } from '../context.js';
import { type ConcurFormat, writeUserProfile } from '../format/index.js';
import { contentType, queryParams } from '../http.js';
import type { UserGrant } from '../users.js';
import { concurError, type SandboxContextC } from './wrap.js';

/**
 * What a traveller's tokens are for, and how they end: the legacy User API (proof that a brokered
 * token works), the legacy revoke endpoint (the app, as Web Services Administrator, revokes a
 * traveller's legacy token) and app-mgmt's DELETE (the traveller's own OAuth 2.0 token revokes all
 * of that traveller's tokens).
 */

const GONE = 'The token is invalid or has already been revoked.';

/** Concur's first letter of a name, whole characters (not UTF-16 halves). */
function initial(name: string | null): string | null {
  const first = name === null ? undefined : [...name.trim()][0];
  return first ?? null;
}

/**
 * `GET /api/user/v1.0/User`: "the profile information for the OAuth consumer". `?loginID=` asks for
 * someone else, which needs an administrator's role a traveller does not have (403), unless it
 * names the caller. The sandbox's login ID (and EmpId) is the request's userId.
 */
export function userProfile(ctx: SandboxContext, c: SandboxContextC, format: ConcurFormat, grant: UserGrant): Response {
  const traveller = grant.traveller;
  const asked = queryParams(new URL(c.req.url)).get('loginid');
  if (asked !== undefined && asked !== '' && asked !== traveller.userId) return concurError(ctx, 403, FORBIDDEN_MESSAGE, format);
  const body = writeUserProfile(
    {
      loginId: traveller.userId,
      firstName: traveller.firstName,
      lastName: traveller.lastName,
      mi: initial(traveller.middleName),
      empId: traveller.userId,
      active: true,
    },
    format,
  );
  return new Response(body, { status: 200, headers: { 'Content-Type': contentType(format) } });
}

/**
 * `POST /net2/oauth2/revoketoken.ashx?token={access token}` or `?consumerKey={key}&user={login ID}`
 * (`client_id` is read as consumerKey too: one copy of the doc spells it so). The legacy door
 * revokes legacy tokens: an OAuth 2.0 token is app-mgmt's. An expired access token still names its
 * grant (revoking it stops the refresh token). Answer: 200 with no body ("Response: None").
 */
export function legacyRevoke(ctx: SandboxContext, c: SandboxContextC, format: ConcurFormat): Response {
  const params = queryParams(new URL(c.req.url));
  const token = params.get('token');
  const user = params.get('user');
  const consumerKey = params.get('consumerkey') ?? params.get('client_id');
  if (token) {
    const found = ctx.users.check(token);
    if (!found || found.grant.form !== 'legacy' || !ctx.users.revoke(found.grant, 'revoketoken')) {
      return concurError(ctx, 400, GONE, format);
    }
    return new Response(null, { status: 200 });
  }
  if (user && consumerKey) {
    if (consumerKey !== ctx.auth.credentials.clientId) return concurError(ctx, 400, 'Invalid consumerKey.', format);
    if (ctx.users.revokeUser(user, 'revoketoken', 'legacy') === 0) return concurError(ctx, 400, GONE, format);
    return new Response(null, { status: 200 });
  }
  return concurError(ctx, 400, 'The token parameter (or consumerKey and user) is required.', format);
}

/** `DELETE /app-mgmt/v0/connections`: every token of the traveller whose Bearer token this is, both forms. */
export function deleteConnections(ctx: SandboxContext, grant: UserGrant): Response {
  ctx.users.revokeUser(grant.traveller.userId, 'app-mgmt');
  return new Response(null, { status: ctx.quirks.appMgmtDeleteStatus });
}
