import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../log.js';
import type { AppEnv } from './context.js';

/** Paths scraped by machines every few seconds: logged at debug unless they fail. */
const QUIET_PATHS: ReadonlySet<string> = new Set(['/healthz', '/metrics']);
const MAX_LOGGED_PATH = 200;

/**
 * One log line per request, from a pino child bound to the request id (also set as `log` on the
 * context for handlers and the error handler): method, path, status, duration in ms.
 *
 * Logged on purpose: the path only. Never the query string (a client may put an event id or,
 * one day, a token there), never a header (Authorization carries the API key), never a body.
 */
export function requestLog(logger: Logger, now: () => number): MiddlewareHandler<AppEnv> {
  return async function requestLog(c, next) {
    const started = now();
    const log = logger.child({ reqId: c.get('requestId') });
    c.set('log', log);
    await next();
    const status = c.res.status;
    const path = c.req.path.length > MAX_LOGGED_PATH ? `${c.req.path.slice(0, MAX_LOGGED_PATH)}…` : c.req.path;
    const line = { method: c.req.method, path, status, durationMs: Math.max(0, now() - started) };
    if (status >= 500) log.error(line, 'request failed');
    else if (QUIET_PATHS.has(c.req.path) && status < 400) log.debug(line, 'request');
    else log.info(line, 'request');
  };
}
