import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from './errors.js';

/** DESIGN.md: "Request bodies are limited (64 KiB → 413)". */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * 413 `payload_too_large` for a body over the limit. Hono's bodyLimit trusts a Content-Length
 * (and refuses before reading), and counts the bytes of a chunked body as they arrive, stopping
 * at the first byte over the limit, so neither kind of body is ever held in full.
 */
export function requestBodyLimit(maxBytes: number = MAX_BODY_BYTES): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError(
        413,
        'payload_too_large',
        `the request body is too large; the limit is ${maxBytes >= 1024 ? `${maxBytes / 1024} KiB` : `${maxBytes} bytes`}`,
      );
    },
  });
}
