import type { MiddlewareHandler } from 'hono';
import type { Keys } from '../../store/index.js';
import type { AppEnv } from '../context.js';
import { ApiError, UNAUTHORIZED_HINT } from '../errors.js';

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
 * The API-key check for `/api/v1/*`: every route there needs `Authorization: Bearer <api key>`
 * (README, "The JSON API"). The key is looked up by its hash in the store (`keys.find`: one hash,
 * one indexed read), so a key made or revoked a moment ago — by another process too, the command
 * line — counts at the very next call. Missing, unknown or revoked: 401 `unauthorized` with
 * `WWW-Authenticate: Bearer`. A known key becomes the request's `caller`.
 */
export function apiKeyAuth(keys: Pick<Keys, 'find' | 'touch'>): MiddlewareHandler<AppEnv> {
  return async function apiKeyAuth(c, next) {
    const token = bearerToken(c.req.header('Authorization'));
    if (token === undefined) throw refuse('no API key was sent');
    const key = keys.find(token);
    if (key === undefined) throw refuse('the API key is not valid');
    if (key.revokedAt !== null) throw refuse(`the API key ${key.prefix}… (${key.name}) was revoked at ${key.revokedAt}`);
    try {
      keys.touch(key);
    } catch {
      // When it was last used is for people to read; a database that cannot write now (read-only,
      // full) must still serve reads, and the store's health check has noticed the failure.
    }
    c.set('caller', key);
    await next();
  };
}
