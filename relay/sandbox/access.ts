import type { AuthHeader } from './auth.js';
import type { SandboxContext } from './context.js';
import type { UserGrant } from './users.js';

/**
 * Who may call what. Two kinds of principal, never interchangeable:
 * - the app (the partner's Web Services Administrator credential): the static legacy token, or a
 *   JWT from the token endpoint. It alone may use the Connection Requests routes and the legacy
 *   revoke endpoint;
 * - a traveller: a token from the legacy exchange or the password grant. It alone may use the
 *   traveller's routes (the User API, app-mgmt's DELETE).
 * Schemes as Concur has them: a legacy token goes as `OAuth` or `Bearer` (the legacy base URIs take
 * both); an OAuth 2.0 token (a JWT) goes as `Bearer` only: `OAuth <jwt>` is refused.
 */

/** `user-oauth`: a traveller's OAuth 2.0 token only (the new platform's app-mgmt knows no legacy token). */
export type AccessNeed = 'app' | 'user' | 'user-oauth' | 'none';

/**
 * What the sandbox made of the credentials (the call log's `auth`): `oauth_jwt` an OAuth 2.0 token
 * sent with the `OAuth` scheme; `user_token` a traveller's token where the app's is needed;
 * `app_token` the app's token where a traveller's is needed; `legacy_token` a traveller's legacy
 * token where only an OAuth 2.0 one is taken.
 */
export type AccessCheck =
  | 'ok'
  | 'missing'
  | 'malformed'
  | 'unknown'
  | 'expired'
  | 'revoked'
  | 'oauth_jwt'
  | 'user_token'
  | 'app_token'
  | 'legacy_token';

export type Access = { check: AccessCheck; grant: UserGrant | null };

export function authenticate(ctx: SandboxContext, need: AccessNeed, header: AuthHeader): Access {
  const deny = (check: AccessCheck): Access => ({ check, grant: null });
  if (need === 'none') return deny('ok');
  if (header.kind === 'missing') return deny('missing');
  if (header.kind === 'malformed') return deny('malformed');
  const app = ctx.auth.inspect(header.token);
  const user = app.state === 'unknown' ? ctx.users.check(header.token) : undefined;
  if (need === 'app') {
    if (user) return deny('user_token');
    if (app.state !== 'ok') return deny(app.state);
    if (app.jwt && header.scheme === 'OAuth') return deny('oauth_jwt');
    return deny('ok');
  }
  if (app.state !== 'unknown') return deny('app_token');
  if (!user) return deny('unknown');
  if (user.grant.form === 'oauth' && header.scheme === 'OAuth') return deny('oauth_jwt');
  if (need === 'user-oauth' && user.grant.form !== 'oauth') return deny('legacy_token');
  if (user.state !== 'ok') return deny(user.state);
  return { check: 'ok', grant: user.grant };
}
