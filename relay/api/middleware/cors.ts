import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { isOriginAllowed } from '../../base/origins.js';
import { EVENT_ID_HEADER, REQUEST_ID_HEADER } from '../context.js';

/** The request headers a browser client may send (the extension, and SSE reconnects). */
const CORS_ALLOW_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key', 'Last-Event-ID'] as const;
const CORS_ALLOW_METHODS = ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS'] as const;
/** Response headers a browser client may read besides the CORS-safelisted ones: nothing secret. */
// Retry-After: a browser client backing off from a 429 or 503 must be able to read how long.
const CORS_EXPOSE_HEADERS = [REQUEST_ID_HEADER, EVENT_ID_HEADER, 'Link', 'WWW-Authenticate', 'Allow', 'Retry-After'] as const;

/**
 * CORS for browser clients. Only well-formed origins that match RELAY_CORS_ORIGINS (by default
 * any chrome-extension:// or moz-extension:// origin with a real extension id; see
 * `isOriginAllowed`) get
 * `Access-Control-Allow-Origin` (their own origin, echoed, with `Vary: Origin`). A browser origin
 * that is not allowed gets no CORS header at all, so the browser refuses the answer; its
 * preflight is a bare 204. No credentials mode: the API key travels in `Authorization`, never in
 * cookies.
 */
export function corsMiddleware(patterns: readonly string[]): MiddlewareHandler {
  const allowed = (origin: string) => origin !== '' && isOriginAllowed(origin, patterns);
  const withCors = cors({
    origin: (origin) => (allowed(origin) ? origin : null),
    allowMethods: [...CORS_ALLOW_METHODS],
    allowHeaders: [...CORS_ALLOW_HEADERS],
    exposeHeaders: [...CORS_EXPOSE_HEADERS],
    maxAge: 600,
    credentials: false,
  });
  const exposeHeaders = CORS_EXPOSE_HEADERS.join(',');
  return async function corsMiddleware(c, next) {
    const origin = c.req.header('Origin');
    const permitted = origin === undefined || allowed(origin);
    if (c.req.method === 'OPTIONS') {
      if (permitted) return withCors(c, next);
      if (c.req.header('Access-Control-Request-Method') !== undefined) return c.body(null, 204, { Vary: 'Origin' });
    } else if (permitted) {
      // What hono/cors adds to a real answer, set before the route answers rather than after
      // (see the headers middleware in app.ts): the origin echoed when it is allowed, the exposed headers.
      if (origin !== undefined) c.header('Access-Control-Allow-Origin', origin);
      c.header('Access-Control-Expose-Headers', exposeHeaders);
    }
    c.header('Vary', 'Origin', { append: true });
    await next();
  };
}
