import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import type { Metrics } from '../../base/metrics.js';
import type { Keys } from '../../store/index.js';
import type { AppEnv } from '../context.js';
import { ApiError, UNAUTHORIZED_HINT } from '../errors.js';
import type { FailedKeys } from './failed-keys.js';

/** `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1). */
const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i;

/** The token of a Bearer `Authorization` header, or undefined when there is none (or it is not Bearer). */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return BEARER.exec(header)?.[1];
}

function refuse(message: string): ApiError {
  return new ApiError(401, 'unauthorized', `${message}; ${UNAUTHORIZED_HINT}`, undefined, { 'WWW-Authenticate': 'Bearer' });
}

/**
 * The address a request came from: the socket's peer, never a header (X-Forwarded-For is the
 * client's to write). Behind a reverse proxy every client is the proxy's address, which then
 * shares one budget of wrong keys: its own limits are the place for finer ones.
 */
function addressOf(c: Context<AppEnv>): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // Not served by @hono/node-server (app.request in a test): no socket to ask.
    return 'unknown';
  }
}

export interface ApiKeyAuthOptions {
  /** Wrong keys by address: past the limit they are answered 429. */
  failedKeys: Pick<FailedKeys, 'fail'>;
  metrics: Pick<Metrics, 'recordAuthFailure' | 'recordAuthThrottled'>;
}

/**
 * The API-key check for `/api/v1/*`: every route there needs `Authorization: Bearer <api key>`
 * (README, "The JSON API"). The key is looked up by its hash in the store (`keys.find`: one hash,
 * one indexed read), so a key made or revoked a moment ago — by another process too, the command
 * line — counts at the very next call. Missing, unknown or revoked: 401 `unauthorized` with
 * `WWW-Authenticate: Bearer`. A known key becomes the request's `caller`.
 *
 * The key is checked before anything else, so a valid key is never slowed; a wrong one (unknown
 * or revoked) counts against its address, and past 20 in a minute it is answered 429
 * `too_many_attempts` with `Retry-After` instead (./failed-keys.ts). Every refusal is counted
 * in the metrics by reason.
 */
export function apiKeyAuth(keys: Pick<Keys, 'find' | 'touch'>, options: ApiKeyAuthOptions): MiddlewareHandler<AppEnv> {
  const { failedKeys, metrics } = options;
  return async function apiKeyAuth(c, next) {
    const token = bearerToken(c.req.header('Authorization'));
    if (token === undefined) {
      metrics.recordAuthFailure('missing');
      throw refuse('no API key was sent');
    }
    const key = await keys.find(token);
    if (key === undefined || key.revokedAt !== null) {
      metrics.recordAuthFailure(key === undefined ? 'unknown' : 'revoked');
      const waitSeconds = failedKeys.fail(addressOf(c));
      if (waitSeconds !== undefined) {
        metrics.recordAuthThrottled();
        throw new ApiError(
          429,
          'too_many_attempts',
          `too many wrong API keys from this address; try again in ${waitSeconds} s (a valid key is not slowed)`,
          undefined,
          { 'Retry-After': String(waitSeconds) },
        );
      }
      if (key === undefined) throw refuse('the API key is not valid');
      throw refuse(`the API key ${key.prefix}… (${key.name}) was revoked at ${key.revokedAt}`);
    }
    try {
      await keys.touch(key);
    } catch {
      // When it was last used is for people to read; a database that cannot write now (read-only,
      // full) must still serve reads, and the store's health check has noticed the failure.
    }
    c.set('caller', key);
    await next();
  };
}
