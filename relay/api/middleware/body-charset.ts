import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../errors.js';

/** What a client should send; the one charset a body may name. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** `; name=value` or `; name="quoted \"value\""` (RFC 9110 §5.6.6), in any case. */
const PARAMETER = /;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)=("(?:[^"\\]|\\.)*"|[^;]*)/g;

/** Every charset a Content-Type names, lower-cased and unquoted. */
function charsetsOf(contentType: string): string[] {
  const charsets: string[] = [];
  for (const [, name, raw = ''] of contentType.matchAll(PARAMETER)) {
    if (name?.toLowerCase() !== 'charset') continue;
    const value = raw.trim();
    const unquoted = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
    charsets.push(unquoted.toLowerCase());
  }
  return charsets;
}

/**
 * 415 `unsupported_media_type` for a body whose Content-Type names a charset other than UTF-8.
 * Hono's validator decodes every body as UTF-8 whatever it is labelled, so a body sent as
 * `charset=utf-16` or `iso-8859-1` was either misread as bad JSON or, when it happened to be
 * ASCII, taken as if the label were not there. JSON between systems is UTF-8 (RFC 8259 §8.1):
 * a client naming anything else is told so rather than guessed at.
 */
export function requireUtf8Body(): MiddlewareHandler {
  return async function requireUtf8Body(c, next) {
    // No body headers, no body (see body-limit.ts): nothing to read, nothing to check.
    if (c.req.header('content-length') === undefined && c.req.header('transfer-encoding') === undefined) return next();
    const contentType = c.req.header('content-type');
    if (contentType !== undefined) {
      const other = charsetsOf(contentType).find((charset) => charset !== 'utf-8');
      if (other !== undefined) {
        throw new ApiError(
          415,
          'unsupported_media_type',
          `the request body must be JSON in UTF-8, sent with Content-Type: application/json or ${JSON_CONTENT_TYPE}; charset=${other} is not accepted`,
        );
      }
    }
    return next();
  };
}
