import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.js';
import { ApiError, UNAUTHORIZED_HINT } from '../errors.js';

/** `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1). */
const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i;

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Checks a presented key against every configured key in constant time: both sides are hashed
 * to 32 bytes (so neither the length nor the content of a key shows in the timing), and every
 * key is compared, without stopping at the first match.
 */
export function createKeyChecker(apiKeys: readonly string[]): (presented: string) => boolean {
  const expected = apiKeys.map(digest);
  return (presented) => {
    const given = digest(presented);
    let match = 0;
    for (const key of expected) match |= timingSafeEqual(key, given) ? 1 : 0;
    return match === 1;
  };
}

/** The token of a Bearer `Authorization` header, or undefined when there is none (or it is not Bearer). */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return BEARER.exec(header)?.[1];
}

/**
 * The API-key check for `/api/v1/*`: every route there needs `Authorization: Bearer <api key>`
 * (README, "The JSON API"). Missing or wrong: 401 `unauthorized` with
 * `WWW-Authenticate: Bearer`. With no keys configured every request is refused.
 */
export function apiKeyAuth(apiKeys: readonly string[]): MiddlewareHandler<AppEnv> {
  const isValid = createKeyChecker(apiKeys);
  return async function apiKeyAuth(c, next) {
    const token = bearerToken(c.req.header('Authorization'));
    if (token === undefined || !isValid(token)) {
      throw new ApiError(
        401,
        'unauthorized',
        token === undefined ? `no API key was sent; ${UNAUTHORIZED_HINT}` : `the API key is not valid; ${UNAUTHORIZED_HINT}`,
        undefined,
        { 'WWW-Authenticate': 'Bearer' },
      );
    }
    await next();
  };
}
