import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../base/log.js';
import type { AppEnv } from '../context.js';

/** Paths scraped by machines every few seconds: logged at debug unless they fail. */
const QUIET_PATHS: ReadonlySet<string> = new Set(['/healthz', '/metrics']);
const MAX_LOGGED_PATH = 200;

/**
 * One log line per request, carrying the request id as `reqId`: method, path, status, duration
 * in ms. The app's logger is set as `logger` on the context; `requestLogger(c)` makes a child
 * bound to the request id for handlers and the error handler, only when they log something (a
 * child per request, kept alive as long as the request, was a measurable part of every answer
 * and of every open event stream).
 *
 * Logged on purpose: the path only. Never the query string (a client may put an event id or,
 * one day, a token there), never a header (Authorization carries the API key), never a body.
 */
export function requestLog(logger: Logger, now: () => number): MiddlewareHandler<AppEnv> {
  // The request line is built below from five fixed fields, none of which a redact path names:
  // redacting it can change nothing, and cost a third of the line.
  const lines = logger.child({}, { redact: { paths: [] } });
  return async function requestLog(c, next) {
    const started = now();
    c.set('logger', logger);
    await next();
    const status = c.res.status;
    const path = c.req.path;
    const level = status >= 500 ? 'error' : QUIET_PATHS.has(path) && status < 400 ? 'debug' : 'info';
    if (!lines.isLevelEnabled(level)) return;
    const line = {
      reqId: c.get('requestId'),
      method: c.req.method,
      path: path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path,
      status,
      durationMs: Math.max(0, now() - started),
    };
    lines[level](line, status >= 500 ? 'request failed' : 'request');
  };
}
