import { extendZodWithOpenApi } from '@hono/zod-openapi';
import { z } from 'zod';
import {
  ConnectionRequest,
  ErrorBody,
  Health,
  Reply,
  ReplyBody,
  ReplyResponse,
  RequestsPage,
  RequestsQuery,
  Summary,
} from '../../shared/models.js';
import { GROUPS } from '../../shared/status.js';

// `.openapi()` is a zod prototype method added by extendZodWithOpenApi, and zod v4 copies
// prototype methods onto each schema when the schema is built. The shared models are usually
// built before this module runs (the store imports them first), so they never got the method:
// call it through the prototype instead. Extending the `zod` that shared/ imports (rather than
// relying on the one @hono/zod-openapi extended) also holds when a test runner loads zod twice.
extendZodWithOpenApi(z);
type OpenApiArgs<T extends z.ZodType> = Parameters<T['openapi']>;
const openapiMethod = (z.ZodType.prototype as unknown as { openapi: (...args: unknown[]) => unknown }).openapi;

/** `schema.openapi(...args)`, also for schemas built before zod was extended. Returns a named copy. */
export function withOpenApi<T extends z.ZodType>(schema: T, ...args: OpenApiArgs<T>): T {
  return openapiMethod.apply(schema, args) as T;
}

/**
 * The shared zod models, named for the OpenAPI document (`#/components/schemas/<Name>`).
 *
 * shared/ stays plain zod (the extension imports it and must not pull in the OpenAPI tooling);
 * the API layer names the models here. Each is a copy with the name attached: validation is the
 * shared model's, unchanged. Nested models are re-attached so the document refers to them by name.
 */
export const ReplyDoc = withOpenApi(Reply, 'Reply');
export const ConnectionRequestDoc = withOpenApi(
  ConnectionRequest.extend({ reply: ReplyDoc.nullable() }),
  'ConnectionRequest',
  { description: 'One connection request. The request token is an OAuth credential and never appears here.' },
);
export const RequestsPageDoc = withOpenApi(
  RequestsPage.extend({ items: z.array(ConnectionRequestDoc) }),
  'RequestsPage',
);
export const ReplyBodyDoc = withOpenApi(ReplyBody, 'ReplyBody');
export const ReplyResponseDoc = withOpenApi(ReplyResponse.extend({ reply: ReplyDoc }), 'ReplyResponse');
export const SummaryDoc = withOpenApi(Summary, 'Summary');
export const ErrorBodyDoc = withOpenApi(ErrorBody, 'Error', {
  description: 'Every error answer: a stable code, a message for people, and sometimes details.',
});
export const HealthDoc = withOpenApi(Health, 'Health');

// ---- request parts ----

const limitSchema = RequestsQuery.shape.limit;
const LIMIT_MIN = limitSchema.unwrap().minValue ?? 1;
const LIMIT_MAX = limitSchema.unwrap().maxValue ?? 200;
const LIMIT_DEFAULT = limitSchema.def.defaultValue;
const limitMessage = `must be a whole number from ${LIMIT_MIN} to ${LIMIT_MAX} (default ${LIMIT_DEFAULT})`;
const groupMessage = `must be one of ${GROUPS.join(', ')} (leave it out for all groups)`;

/**
 * `GET /api/v1/requests` query: the shared RequestsQuery (its bounds and default are read from
 * it), with messages that say what is valid.
 */
export const RequestsQueryApi = RequestsQuery.extend({
  group: z
    .enum(GROUPS, { error: groupMessage })
    .optional()
    .openapi({ description: 'Only requests in this group; all groups when left out.' }),
  limit: z.coerce
    .number({ error: limitMessage })
    .int({ error: limitMessage })
    .min(LIMIT_MIN, { error: limitMessage })
    .max(LIMIT_MAX, { error: limitMessage })
    .default(LIMIT_DEFAULT)
    .openapi({ description: 'Page size.' }),
  cursor: z
    .string()
    .min(1, { error: 'must not be empty; use the nextCursor of a previous page, or leave it out for the first page' })
    .optional()
    .openapi({ description: 'The nextCursor of the previous page; opaque.' }),
});

export const RequestIdParams = z.object({
  id: z
    .string()
    .min(1)
    .openapi({ param: { name: 'id', in: 'path' }, description: "Concur's id of the connection request." }),
});

/** RFC-draft Idempotency-Key: 1 to 255 printable ASCII characters. */
export const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/;

export const ReplyHeaders = z.object({
  'Idempotency-Key': z
    .string()
    .regex(IDEMPOTENCY_KEY, { error: 'must be 1 to 255 printable ASCII characters, e.g. a UUID' })
    .optional()
    .openapi({
      description:
        'Makes a repeat of the same call (same request, same body) answer the same reply and send nothing more.',
      example: '6f1f9a0e-2c0b-4a4b-9f1e-0d6c1b7f3a11',
    }),
});
