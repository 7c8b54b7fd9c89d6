import type { Context } from 'hono';
import type { ApiKey } from '../../shared/people.js';
import type { Logger } from '../base/log.js';
import type { Actor } from '../store/index.js';

/**
 * What every request of the relay's API carries in its context: the request id (from the
 * `X-Request-Id` the client sent, when it is a safe token, else a fresh UUID) and the app's
 * logger. A logger bound to the request id is made only when something is logged about the
 * request (`requestLogger`): most requests log one line, and that line carries `reqId` itself.
 */
export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    /** The key the request came with, once the API-key check has passed (routes under /api/v1). */
    caller: ApiKey;
  };
}

/** The caller as the audit trail and `requestedBy` name it. */
export function actorOf(c: Pick<Context<AppEnv>, 'get'>): Actor {
  const key = c.get('caller');
  return { keyId: key.id, name: key.name };
}

/** The header that carries the request id both ways. */
export const REQUEST_ID_HEADER = 'X-Request-Id';

/**
 * On list and summary answers: the id of the latest live event when the answer was read. Events
 * after it are what the answer does not show yet, so a client may read a snapshot and open
 * `GET /api/v1/events` in parallel, then compare: a stream that started past this id (its
 * greeting summary's id is higher) may have missed something, and one opened with
 * `Last-Event-ID: <this id>` misses nothing.
 */
export const EVENT_ID_HEADER = 'Relay-Event-Id';

/**
 * A pino child bound to the request id (`reqId`), for a handler or the error handler that has
 * something to say about this request; undefined before the request log middleware has run.
 */
export function requestLogger(c: Pick<Context<AppEnv>, 'get'>): Logger | undefined {
  return c.get('logger')?.child({ reqId: c.get('requestId') });
}
