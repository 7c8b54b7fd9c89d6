import type { Hono } from 'hono';
import type { SandboxContext, SandboxEnv } from './context.js';
import type { ConcurVersion } from './format/index.js';
import { getOne, list, methodNotAllowed, put } from './routes/connection-requests.js';
import { exchange, token } from './routes/oauth.js';
import { concurRoute } from './routes/wrap.js';

/**
 * The routes a partner's code talks to, behaving as Concur does (each handler in routes/, each
 * wrapped by routes/wrap.ts: call log, faults, authentication):
 *   GET  /api/v3.{0,2}/common/connectionrequests            (status, offset, limit)
 *   GET  /api/v3.{0,2}/common/connectionrequests/{id}
 *   PUT  /api/v3.{0,2}/common/connectionrequests/{id}
 *   GET  /net2/oauth2/getaccesstoken.ashx?code=…            (legacy request-token exchange)
 *   POST /oauth2/v0/token                                    (OAuth 2.0: refresh_token, client_credentials)
 */
export function registerConcurRoutes(app: Hono<SandboxEnv>, ctx: SandboxContext): void {
  for (const version of ['3.0', '3.2'] as const satisfies readonly ConcurVersion[]) {
    const base = `/api/v${version}/common/connectionrequests`;
    app.get(base, concurRoute(ctx, 'list', true, (c, _call, format) => list(ctx, c, format, version)));
    app.get(`${base}/:id`, concurRoute(ctx, 'get', true, (c, call, format) => getOne(ctx, c, call, format, version)));
    app.put(`${base}/:id`, concurRoute(ctx, 'put', true, (c, call, format) => put(ctx, c, call, format)));
    app.all(base, (c) => methodNotAllowed(ctx, c));
    app.all(`${base}/:id`, (c) => methodNotAllowed(ctx, c));
  }
  app.get('/net2/oauth2/getaccesstoken.ashx', concurRoute(ctx, 'exchange', false, (c, _call, format) => exchange(ctx, c, format)));
  app.post('/oauth2/v0/token', concurRoute(ctx, 'token', false, (c, call) => token(ctx, c, call), 'json'));
}
