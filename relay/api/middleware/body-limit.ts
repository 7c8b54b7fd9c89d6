import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from '../errors.js';

/** Request bodies are limited: over 64 KiB → 413 (README, "The JSON API"). */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * 413 `payload_too_large` for a body over the limit. Hono's bodyLimit trusts a Content-Length
 * (and refuses before reading), and counts the bytes of a chunked body as they arrive, stopping
 * at the first byte over the limit, so neither kind of body is ever held in full.
 */
export function requestBodyLimit(maxBytes: number = MAX_BODY_BYTES): MiddlewareHandler {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError(
        413,
        'payload_too_large',
        `the request body is too large; the limit is ${maxBytes >= 1024 ? `${maxBytes / 1024} KiB` : `${maxBytes} bytes`}`,
      );
    },
  });
  return async function requestBodyLimit(c, next) {
    // A request with neither header has no body (RFC 9112 §6.3), so there is nothing to count. Asking
    // bodyLimit anyway would read `c.req.raw.body`, which makes @hono/node-server build a full
    // undici Request (and an AbortController) for every GET: a profile of GET /api/v1/requests
    // under load showed that as one of the largest costs of the whole request.
    if (c.req.header('content-length') === undefined && c.req.header('transfer-encoding') === undefined) return next();
    return limit(c, next);
  };
}
