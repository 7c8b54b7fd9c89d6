import { APP_SCOPE } from './auth.js';
import type { SandboxContext } from './context.js';
import { fakeJwt } from './random.js';
import { type Issued, USER_ACCESS_TTL_SECONDS, USER_SCOPE, travellerOf } from './users.js';

/**
 * `POST /oauth2/v0/token`: the grants, answers and error codes of Concur's apidoc ("Response Codes").
 * - client_credentials: the app's token, without refresh_token or id_token (as apidoc shows it);
 * - refresh_token: the app's refresh token gives the app a token; a traveller's (from the password
 *   grant) gives that traveller a token. Each rotates. Neither can be spent as the other;
 * - password with credtype=authtoken: a request's userId and request token become the traveller's
 *   tokens (the same single-use rule as the legacy exchange, state.ts `exchange`).
 */

export interface TokenAnswer {
  status: 200 | 400 | 401;
  body: Record<string, unknown>;
}

type Fail = (status: 400 | 401, error: string, description: string, code: number) => TokenAnswer;

const GRANTS = ['password', 'refresh_token', 'client_credentials'] as const;
type Grant = (typeof GRANTS)[number];

export function tokenEndpoint(ctx: SandboxContext, form: URLSearchParams, geolocation: string): TokenAnswer {
  const fail: Fail = (status, error, description, code) => ({
    status,
    body: { error, error_description: description, code, geolocation },
  });
  const grant = form.get('grant_type');
  const clientId = form.get('client_id');
  const clientSecret = form.get('client_secret');
  if (!grant) return fail(400, 'invalid_request', 'grant_type was not supplied', 65);
  if (!(GRANTS as readonly string[]).includes(grant)) {
    return fail(400, 'unsupported_grant_type', `grant_type ${grant} is not supported here`, 60);
  }
  if (!clientId) return fail(400, 'invalid_request', 'client_id was not supplied', 62);
  if (!clientSecret) return fail(400, 'invalid_request', 'client_secret was not supplied', 63);
  if (!ctx.auth.clientMatches(clientId, clientSecret)) return fail(401, 'invalid_grant', 'Incorrect Credentials. Please Retry', 5);
  switch (grant as Grant) {
    case 'client_credentials':
      return appAnswer(ctx, geolocation);
    case 'refresh_token':
      return refreshGrant(ctx, form, geolocation, fail);
    case 'password':
      return passwordGrant(ctx, form, geolocation, fail);
  }
}

function refreshGrant(ctx: SandboxContext, form: URLSearchParams, geolocation: string, fail: Fail): TokenAnswer {
  const presented = form.get('refresh_token');
  if (!presented) return fail(400, 'invalid_request', 'refresh_token was not supplied', 106);
  const refused = () => fail(400, 'invalid_grant', 'bad or expired refresh token', 108);
  if (ctx.auth.isAppRefreshToken(presented)) {
    const rotated = ctx.auth.rotateRefresh(presented);
    if (!rotated.ok) return refused();
    return appAnswer(ctx, geolocation, rotated);
  }
  const issued = ctx.users.refresh('oauth', presented, geolocation);
  return issued ? userAnswer(ctx, issued, geolocation) : refused();
}

function passwordGrant(ctx: SandboxContext, form: URLSearchParams, geolocation: string, fail: Fail): TokenAnswer {
  // apidoc: "if omitted, oauth2 will assume the type is password".
  const credtype = form.get('credtype') || 'password';
  if (credtype !== 'authtoken' && credtype !== 'password') return fail(400, 'invalid_request', 'credtype is invalid', 120);
  const username = form.get('username');
  const password = form.get('password');
  if (!username) return fail(400, 'invalid_request', 'username was not supplied', 51);
  if (!password) return fail(400, 'invalid_request', 'password was not supplied', 52);
  // The sandbox knows no traveller's Concur password: every one is wrong, as Concur's bad login answers.
  if (credtype === 'password') return fail(401, 'invalid_grant', 'Incorrect Credentials. Please Retry', 5);
  const outcome = ctx.state.exchange(password, username);
  if (!outcome.ok) {
    if (outcome.reason === 'not_yours') return fail(400, 'invalid_grant', 'Authtoken was not issued for you', 136);
    return fail(400, 'invalid_request', 'code is bad or expired', 103);
  }
  return userAnswer(ctx, ctx.users.issue('oauth', travellerOf(outcome.request), geolocation), geolocation);
}

/**
 * apidoc writes `"expires_in": "3600"` (a string); the migration guide's sample, about users'
 * tokens, a number. By default each answer follows its document; the `expiresIn` quirk forces one.
 */
function expiresIn(ctx: SandboxContext, seconds: number, documented: 'string' | 'number'): string | number {
  return (ctx.quirks.expiresIn ?? documented) === 'string' ? String(seconds) : seconds;
}

function appAnswer(ctx: SandboxContext, geolocation: string, rotated?: { refreshToken: string; expiresAt: number }): TokenAnswer {
  const body: Record<string, unknown> = {
    expires_in: expiresIn(ctx, ctx.auth.accessTokenTtlSeconds, 'string'),
    scope: APP_SCOPE,
    token_type: 'Bearer',
    access_token: ctx.auth.issueAccess(geolocation),
  };
  if (rotated) {
    const iat = Math.floor(ctx.clock.now() / 1000);
    body.refresh_token = rotated.refreshToken;
    body.refresh_expires_in = Math.floor(rotated.expiresAt / 1000);
    // A refresh grant carries an OpenID id_token; Concur's client_credentials example has none.
    body.id_token = fakeJwt({ iss: geolocation, sub: ctx.auth.credentials.clientId, aud: ctx.auth.credentials.clientId, iat, exp: iat + 3600 });
  }
  body.geolocation = geolocation;
  return { status: 200, body };
}

function userAnswer(ctx: SandboxContext, issued: Issued, geolocation: string): TokenAnswer {
  const iat = Math.floor(ctx.clock.now() / 1000);
  const userId = issued.grant.traveller.userId;
  const refreshExpiresAt = issued.grant.refreshExpiresAt ?? 0;
  return {
    status: 200,
    body: {
      expires_in: expiresIn(ctx, USER_ACCESS_TTL_SECONDS, 'number'),
      scope: USER_SCOPE,
      token_type: 'Bearer',
      access_token: issued.accessToken,
      refresh_token: issued.refreshToken,
      refresh_expires_in: Math.floor(refreshExpiresAt / 1000),
      // apidoc's sample id_token, with the traveller as `sub`: "You can obtain the userId from this token."
      id_token: fakeJwt({
        aud: ctx.auth.credentials.clientId,
        'concur.profile': `${geolocation}/profile/v1/principals/${userId}`,
        'concur.version': 2,
        'concur.type': 'user',
        sub: userId,
        iss: geolocation,
        exp: iat + USER_ACCESS_TTL_SECONDS,
        nbf: iat,
        iat,
      }),
      geolocation,
    },
  };
}
