import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import type { ErrorBody } from '../../shared/models.js';
import { STORAGE_PROBLEM_TEXT, storageProblemOf, StoreError, type StoreErrorCode } from '../store/errors.js';
import { requestLogger, type AppEnv } from './context.js';
import { VaultFencedError } from '../vault/vault.js';

/**
 * The one place that turns anything thrown while answering a request into the API's error body
 * `{"error":{"code","message","details"?}}` (README.md, "The JSON API (v1)").
 *
 * Only texts written for clients reach a client: ApiError messages, validation messages built
 * from the zod issues, and the store's typed errors (whose messages are documented as safe).
 * Everything else is a 500 `internal` with a generic message and the request id; the error itself
 * (message, stack) goes to the log only.
 */

/** The stable `error.code` values the API answers with: a closed set, listed in the OpenAPI document. */
export const API_ERROR_CODES = [
  'invalid_request',
  'invalid_json',
  'bad_cursor',
  'bad_last_event_id',
  'unauthorized',
  'forbidden',
  'too_many_attempts',
  'not_found',
  'method_not_allowed',
  'reply_in_flight',
  'retry_limit',
  'payload_too_large',
  'unsupported_media_type',
  'idempotency_mismatch',
  'exchange_unavailable',
  'bad_request',
  'webhook_url_refused',
  'webhook_disabled',
  'delivery_pending',
  'delivery_too_large',
  'ambiguous_key',
  'connection_revoked',
  'connection_broken',
  'refresh_unavailable',
  'storage_unavailable',
  'shutting_down',
  'unavailable',
  'internal',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** Seconds a client is asked to wait after a storage failure: long enough for an operator, short enough for a retry loop. */
const STORAGE_RETRY_AFTER_SECONDS = 30;

/** An error whose status, code and message are meant for the client. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

export type ValidationTarget = 'json' | 'query' | 'param' | 'header' | 'form' | 'cookie';

/** One problem with a request, as listed in `details` of a 400 `invalid_request`. */
export interface ValidationIssue {
  /** Where: `body`, `query`, `path` or `header`. */
  in: 'body' | 'query' | 'path' | 'header' | 'cookie';
  /** The field (dotted path), or "" for the body as a whole. */
  field: string;
  message: string;
}

const LOCATION: Record<ValidationTarget, ValidationIssue['in']> = {
  json: 'body',
  form: 'body',
  query: 'query',
  param: 'path',
  header: 'header',
  cookie: 'cookie',
};

const LOCATION_LABEL: Record<ValidationIssue['in'], string> = {
  body: 'body field',
  query: 'query parameter',
  path: 'path parameter',
  header: 'header',
  cookie: 'cookie',
};

/** A request that failed its zod schema: 400 `invalid_request`, naming each field and what is valid. */
class ValidationError extends ApiError {
  readonly issues: readonly ValidationIssue[];
  constructor(error: z.ZodError, target: ValidationTarget) {
    const where = LOCATION[target];
    const issues = error.issues.map(
      (issue): ValidationIssue => ({ in: where, field: issue.path.map(String).join('.'), message: issue.message }),
    );
    const text = issues
      .map((issue) =>
        issue.field === ''
          ? `${where === 'body' ? 'the request body' : `the ${where}`}: ${issue.message}`
          : `${LOCATION_LABEL[issue.in]} ${issue.field}: ${issue.message}`,
      )
      .join('; ');
    super(400, 'invalid_request', text || 'the request is not valid', issues);
    this.issues = issues;
  }
}

/** For `new OpenAPIHono({ defaultHook })`: a failed validation becomes a thrown ValidationError. */
export function validationHook(
  result: { target: string } & ({ success: true } | { success: false; error: z.ZodError }),
): void {
  if (!result.success) throw new ValidationError(result.error, result.target as ValidationTarget);
}

export const UNAUTHORIZED_HINT =
  'send the API key as Authorization: Bearer <api key> (a key made with POST /api/v1/keys or the keys command, or one of RELAY_API_KEYS)';

const INTERNAL_MESSAGE = 'the relay could not answer this request because of an internal error';

// Hono's own exceptions carry framework texts; clients get these instead.
const HTTP_EXCEPTION_BODIES: Partial<Record<number, { code: ApiErrorCode; message: string }>> = {
  400: { code: 'bad_request', message: 'the request could not be read' },
  413: {
    code: 'payload_too_large',
    message: 'the request body is too large; the limit is 64 KiB',
  },
  415: {
    code: 'unsupported_media_type',
    message: 'the request body must be JSON, sent with Content-Type: application/json',
  },
};

/**
 * What each store error means for a client: the one table from the store's error codes to the
 * API's statuses and codes. null: a client cannot cause it (a bug, a database the relay cannot
 * open), so it is a 500 like any unexpected error. Its messages are written to be shown.
 */
const STORE_ERROR_ANSWERS: Readonly<Record<StoreErrorCode, { status: ContentfulStatusCode; code: ApiErrorCode } | null>> = {
  bad_cursor: { status: 400, code: 'bad_cursor' },
  unknown_request: { status: 404, code: 'not_found' },
  unknown_webhook: { status: 404, code: 'not_found' },
  unknown_delivery: { status: 404, code: 'not_found' },
  unknown_key: { status: 404, code: 'not_found' },
  unknown_connection: { status: 404, code: 'not_found' },
  ambiguous_key: { status: 409, code: 'ambiguous_key' },
  reply_in_flight: { status: 409, code: 'reply_in_flight' },
  retry_limit: { status: 409, code: 'retry_limit' },
  webhook_disabled: { status: 409, code: 'webhook_disabled' },
  delivery_pending: { status: 409, code: 'delivery_pending' },
  delivery_too_large: { status: 409, code: 'delivery_too_large' },
  idempotency_mismatch: { status: 422, code: 'idempotency_mismatch' },
  exchange_unavailable: { status: 422, code: 'exchange_unavailable' },
  unknown_reply: null,
  reply_claimed: null,
  open_failed: null,
  schema_too_new: null,
};

/** What a thrown value means for the client, or undefined when it is unexpected (→ 500). */
function classify(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof StoreError) {
    const answer = STORE_ERROR_ANSWERS[err.code];
    if (answer !== null) return new ApiError(answer.status, answer.code, err.message);
  }
  if (err instanceof VaultFencedError) {
    // The database works, but this relay must seal nothing more with its key (boot/vault-watch.ts).
    return new ApiError(
      503,
      'storage_unavailable',
      `the relay cannot store secrets right now: its vault key was rotated out, and it waits to be restarted with the new one; nothing was accepted, try again later (in ${STORAGE_RETRY_AFTER_SECONDS} s or more)`,
      undefined,
      { 'Retry-After': String(STORAGE_RETRY_AFTER_SECONDS) },
    );
  }
  const storage = storageProblemOf(err);
  if (storage !== undefined) {
    // Every store write is one transaction, rolled back when it fails: nothing of the request was kept.
    return new ApiError(
      503,
      'storage_unavailable',
      `the relay cannot use its database right now: ${STORAGE_PROBLEM_TEXT[storage]}; nothing was accepted, try again later (in ${STORAGE_RETRY_AFTER_SECONDS} s or more)`,
      undefined,
      { 'Retry-After': String(STORAGE_RETRY_AFTER_SECONDS) },
    );
  }
  if (err instanceof HTTPException) {
    // hono/validator: the body of a JSON request did not parse.
    if (err.status === 400 && err.message === 'Malformed JSON in request body') {
      return new ApiError(400, 'invalid_json', 'the request body is not valid JSON; send a JSON object, e.g. {"status":"CRSUC"}');
    }
    const known = HTTP_EXCEPTION_BODIES[err.status];
    if (known !== undefined) return new ApiError(err.status, known.code, known.message);
    if (err.status === 401) return new ApiError(401, 'unauthorized', `unauthorized; ${UNAUTHORIZED_HINT}`);
    if (err.status === 404) return new ApiError(404, 'not_found', 'not found');
    if (err.status >= 400 && err.status < 500) return new ApiError(err.status, 'bad_request', 'the request was refused');
  }
  return undefined;
}

/** The body of every error answer. */
function errorBody(code: ApiErrorCode, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Answers `err` as a JSON error; unexpected errors are logged (with the request id) and answered 500. */
function errorResponse(err: unknown, c: Context<AppEnv>): Response {
  const known = classify(err);
  if (known !== undefined) {
    // The client is told what it can do; the operator needs SQLite's own words.
    if (known.code === 'storage_unavailable') requestLogger(c)?.error({ err }, 'the database could not be used');
    return c.json(errorBody(known.code, known.message, known.details), known.status, known.headers);
  }
  const requestId = c.get('requestId');
  requestLogger(c)?.error({ err }, 'request failed with an unexpected error');
  return c.json(
    errorBody('internal', `${INTERNAL_MESSAGE}; the relay's log has the details under request id ${requestId ?? 'unknown'}`, {
      requestId: requestId ?? null,
    }),
    500,
  );
}

/** `app.onError(...)`. */
export const onError: ErrorHandler<AppEnv> = (err, c) => errorResponse(err, c);

// ---------------------------------------------------------------------------------------------
// Unknown routes (404) and known routes with the wrong method (405)
// ---------------------------------------------------------------------------------------------

/** What the router knows: Hono's `app.routes` (middleware entries use the method `ALL`). */
interface RouteEntry {
  method: string;
  path: string;
}

function routePattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => {
      if (segment === '*') return '.*';
      if (segment.startsWith(':')) return '[^/]+';
      return segment.replace(/[.+?^${}()|[\]\\*]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}$`);
}

/**
 * The not-found handler: 405 (with `Allow`) when the path exists for other methods, else 404.
 * `routes` is read on first use, once every route has been registered.
 */
export function notFoundHandler(routes: () => readonly RouteEntry[]): NotFoundHandler<AppEnv> {
  let table: Array<{ pattern: RegExp; method: string }> | undefined;
  return (c) => {
    table ??= routes()
      .filter((route) => route.method !== 'ALL')
      .map((route) => ({ pattern: routePattern(route.path), method: route.method.toUpperCase() }));
    const path = c.req.path;
    const methods = new Set(table.filter((route) => route.pattern.test(path)).map((route) => route.method));
    if (methods.size > 0) {
      if (methods.has('GET')) methods.add('HEAD');
      methods.add('OPTIONS');
      const allow = [...methods].sort().join(', ');
      return errorResponse(
        new ApiError(
          405,
          'method_not_allowed',
          `this route does not answer ${c.req.method}; it answers ${allow}`,
          undefined,
          { Allow: allow },
        ),
        c,
      );
    }
    return errorResponse(
      new ApiError(404, 'not_found', 'there is no such route; the API is described at /openapi.json'),
      c,
    );
  };
}
