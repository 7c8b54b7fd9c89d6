import type { Logger } from '../log.js';

/**
 * What every request of the relay's API carries in its context: the request id (from the
 * `X-Request-Id` the client sent, when it is a safe token, else a fresh UUID) and a pino child
 * logger bound to it.
 */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
  };
}

/** The header that carries the request id both ways. */
export const REQUEST_ID_HEADER = 'X-Request-Id';
