import type { Hono } from 'hono';
import type { SandboxContext, SandboxEnv } from './context.js';
import type { ConcurVersion } from './format/index.js';
import { getOne, list, methodNotAllowed, put } from './routes/connection-requests.js';
import { classifyLegacy, classifyToken, legacyToken, token } from './routes/oauth.js';
import { deleteConnections, legacyRevoke, userProfile } from './routes/users.js';
import { concurRoute } from './routes/wrap.js';
import type { UserGrant } from './users.js';

/** The traveller that authentication found; a route that needs one never runs without it. */
function traveller(grant: UserGrant | null): UserGrant {
  if (!grant) throw new Error('a traveller route ran without a traveller');
  return grant;
}

/**
 * The routes a partner's code talks to, behaving as Concur does (each handler in routes/, each
 * wrapped by routes/wrap.ts: call log, faults, authentication as access.ts says):
 *   GET    /api/v3.{0,2}/common/connectionrequests         (status, offset, limit)   the app's token
 *   GET    /api/v3.{0,2}/common/connectionrequests/{id}                              the app's token
 *   PUT    /api/v3.{0,2}/common/connectionrequests/{id}                              the app's token
 *   GET    /net2/oauth2/getaccesstoken.ashx?code=…|refresh_token=…   legacy exchange and refresh
 *   POST   /oauth2/v0/token                  OAuth 2.0: password (authtoken), refresh_token, client_credentials
 *   POST   /net2/oauth2/revoketoken.ashx?token=…                     the app's token (WS admin)
 *   DELETE /app-mgmt/v0/connections                                  a traveller's OAuth 2.0 token
 *   GET    /api/user/v1.0/User                                       a traveller's token
 */
export function registerConcurRoutes(app: Hono<SandboxEnv>, ctx: SandboxContext): void {
  for (const version of ['3.0', '3.2'] as const satisfies readonly ConcurVersion[]) {
    const base = `/api/v${version}/common/connectionrequests`;
    app.get(base, concurRoute(ctx, { route: 'list', auth: 'app' }, (c, _call, format) => list(ctx, c, format, version)));
    app.get(`${base}/:id`, concurRoute(ctx, { route: 'get', auth: 'app' }, (c, call, format) => getOne(ctx, c, call, format, version)));
    app.put(`${base}/:id`, concurRoute(ctx, { route: 'put', auth: 'app' }, (c, call, format) => put(ctx, c, call, format, version)));
    app.all(base, (c) => methodNotAllowed(ctx, c));
    app.all(`${base}/:id`, (c) => methodNotAllowed(ctx, c));
  }
  app.get(
    '/net2/oauth2/getaccesstoken.ashx',
    concurRoute(ctx, { route: 'exchange', auth: 'none', classify: classifyLegacy }, (c, _call, format) => legacyToken(ctx, c, format)),
  );
  app.post('/oauth2/v0/token', concurRoute(ctx, { route: 'token', auth: 'none', format: 'json', classify: classifyToken }, (c) => token(ctx, c)));
  app.post('/net2/oauth2/revoketoken.ashx', concurRoute(ctx, { route: 'revoke', auth: 'app' }, (c, _call, format) => legacyRevoke(ctx, c, format)));
  app.delete(
    '/app-mgmt/v0/connections',
    concurRoute(ctx, { route: 'revoke', auth: 'user-oauth', format: 'json' }, (_c, _call, _format, grant) => deleteConnections(ctx, traveller(grant))),
  );
  app.get('/api/user/v1.0/user', concurRoute(ctx, { route: 'user', auth: 'user' }, (c, _call, format, grant) => userProfile(ctx, c, format, traveller(grant))));
}
