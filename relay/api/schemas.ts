import { extendZodWithOpenApi } from '@hono/zod-openapi';
import { z } from 'zod';
import { ConnectionRequest, DeliveriesPage, DeliveriesQuery, Delivery, DeliveryAttempt, DeliveryLogEntry, DeliveryState, ErrorBody, Health, RecoverBody, RecoverResult, Reply, ReplyBody, ReplyResponse, RequestsPage, RequestsQuery, Summary, WEBHOOK_EVENT_TYPES, Webhook, WebhookCreate, WebhookCreated, WebhookList, WebhookMessage, WebhookState, WebhookUpdate } from '../../shared/models.js';
import { RequestMatch } from '../../shared/match.js';
import { Me } from '../../shared/people.js';
import { GROUPS } from '../../shared/status.js';
import { EVENT_ID_HEADER } from './context.js';
import { API_ERROR_CODES } from './errors.js';
import { classicObject } from './zod-classic.js';

// `.openapi()` is a zod prototype method added by extendZodWithOpenApi, and zod v4 copies
// prototype methods onto each schema when the schema is built: a classic schema built before this
// module runs never got the method, so it is called through the prototype instead. (The shared
// models are zod/mini and have no such method at all: they are named through classic copies,
// below.) Extending the `zod` imported here (rather than relying on the one @hono/zod-openapi
// extended) also holds when a test runner loads zod twice.
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
 * shared/ stays plain zod/mini (the extension imports it and must not pull in classic zod or the
 * OpenAPI tooling); the API layer names the models here. Each is a classic copy (./zod-classic.ts)
 * with the name attached: validation is the shared model's, unchanged. Nested models are
 * re-attached so the document refers to them by name.
 */
const ReplyDoc = withOpenApi(classicObject(Reply), 'Reply');
const RequestMatchDoc = withOpenApi(classicObject(RequestMatch), 'RequestMatch', {
  description:
    "What the partner's member directory last said about the request (auto-connect): its result, its note (or, for a call that failed, recorded as unknown, what went wrong), and when.",
});
export const ConnectionRequestDoc = withOpenApi(
  // A union, not ReplyDoc.nullable(): the generator takes the name of a named schema's nullable
  // copy for the named schema itself, and every Reply (a 202's included) would read "or null".
  classicObject(ConnectionRequest).extend({ reply: z.union([ReplyDoc, z.null()]), match: z.union([RequestMatchDoc, z.null()]) }),
  'ConnectionRequest',
  { description: 'One connection request. The request token is an OAuth credential and never appears here.' },
);
export const RequestsPageDoc = withOpenApi(
  classicObject(RequestsPage).extend({ items: z.array(ConnectionRequestDoc) }),
  'RequestsPage',
);
export const ReplyBodyDoc = withOpenApi(classicObject(ReplyBody), 'ReplyBody');
export const ReplyResponseDoc = withOpenApi(classicObject(ReplyResponse).extend({ reply: ReplyDoc }), 'ReplyResponse');
export const SummaryDoc = withOpenApi(classicObject(Summary), 'Summary');
export const MeDoc = withOpenApi(classicObject(Me), 'Me');
export const ErrorBodyDoc = withOpenApi(
  classicObject(ErrorBody).extend({
    error: classicObject(ErrorBody.shape.error).extend({
      // The closed set the relay answers with (the shared model keeps a string: a client must
      // still read a code it does not know).
      code: z.enum(API_ERROR_CODES).openapi({
        description:
          'Stable; branch on it. storage_unavailable (503, with Retry-After): the database cannot write (disk full, read-only file, I/O errors) and nothing was accepted — try again later.',
      }),
    }),
  }),
  'Error',
  { description: 'Every error answer: a stable code, a message for people, and sometimes details.' },
);
export const HealthDoc = withOpenApi(classicObject(Health), 'Health');

// ---- request parts ----

/** The bounds and default of a shared `limit` (a number with a default), read from the model. */
function limitOf(limit: typeof RequestsQuery.shape.limit, fallback: { min: number; max: number }) {
  const bounds = limit.def.innerType._zod.bag;
  return { min: bounds.minimum ?? fallback.min, max: bounds.maximum ?? fallback.max, default: limit.def.defaultValue };
}

/**
 * A whole number in the query string, with its bounds and default: plain decimal digits and
 * nothing else. `z.coerce.number()` reads "0x10" as 16 and "1e1", " 10", "+10" or "10.0" as 10,
 * so a mistyped or crafted value would quietly mean something the client did not write.
 * Documented as the integer it is.
 */
function queryInteger(bounds: { min: number; max: number; default: number }) {
  const message = `must be a whole number from ${bounds.min} to ${bounds.max} in plain decimal digits (default ${bounds.default})`;
  return z
    .string({ error: message })
    .regex(/^[0-9]+$/, { error: message })
    .transform(Number)
    .pipe(z.number().int().min(bounds.min, { error: message }).max(bounds.max, { error: message }))
    .default(bounds.default)
    .openapi({ type: 'integer', minimum: bounds.min, maximum: bounds.max, default: bounds.default, description: 'Page size.' });
}

/**
 * The paging of a list query: `limit` (its bounds and default read from the shared model) and
 * the opaque `cursor`. One definition for every list.
 */
export function pagingOf(limit: typeof RequestsQuery.shape.limit, fallback: { min: number; max: number }) {
  return {
    limit: queryInteger(limitOf(limit, fallback)),
    cursor: z
      .string()
      .min(1, { error: 'must not be empty; use the nextCursor of a previous page, or leave it out for the first page' })
      .optional()
      .openapi({ description: 'The nextCursor of the previous page; opaque.' }),
  };
}

const groupMessage = `must be one of ${GROUPS.join(', ')} (leave it out for all groups)`;

/**
 * `GET /api/v1/requests` query: the shared RequestsQuery (its bounds and default are read from
 * it), with messages that say what is valid.
 */
export const RequestsQueryApi = classicObject(RequestsQuery).extend({
  group: z
    .enum(GROUPS, { error: groupMessage })
    .optional()
    .openapi({ description: 'Only requests in this group; all groups when left out.' }),
  ...pagingOf(RequestsQuery.shape.limit, { min: 1, max: 200 }),
});

export const RequestIdParams = z.object({
  id: z
    .string()
    .min(1)
    .openapi({ param: { name: 'id', in: 'path' }, description: "Concur's id of the connection request." }),
});

/** Response headers of the snapshot answers (the list and the summary); see EVENT_ID_HEADER. */
export const EventIdHeaders = z.object({
  [EVENT_ID_HEADER]: z.string().regex(/^\d+$/).openapi({
    description:
      'The id of the latest live event when this answer was read (0 before any). Open /api/v1/events with Last-Event-ID set to it to get every change this answer does not show.',
    example: '1042',
  }),
});

/** Response headers of a list page: its event id, and the next page's address when there is one. */
export const PageHeaders = EventIdHeaders.extend({
  Link: z.string().optional().openapi({
    description: 'The next page (RFC 8288), as a query-only reference to this path: `<?…&cursor=…>; rel="next"`; absent on the last page. The same cursor as nextCursor.',
  }),
});

/** RFC-draft Idempotency-Key: 1 to 255 printable ASCII characters. */
const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/;

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

// ---- webhooks ----

export const WebhookDoc = withOpenApi(classicObject(Webhook), 'Webhook', {
  description: 'A subscription to webhook events. The signing secret is never part of it.',
});
export const WebhookListDoc = withOpenApi(classicObject(WebhookList).extend({ items: z.array(WebhookDoc) }), 'WebhookList');
export const WebhookCreatedDoc = withOpenApi(classicObject(WebhookCreated).extend({ webhook: WebhookDoc }), 'WebhookCreated', {
  description: 'The webhook and its signing secret (`whsec_…`): the only answers that ever show a secret.',
});
export const DeliveryDoc = withOpenApi(classicObject(Delivery), 'Delivery');
const DeliveryAttemptDoc = withOpenApi(classicObject(DeliveryAttempt), 'DeliveryAttempt');
const DeliveryLogEntryDoc = withOpenApi(
  classicObject(DeliveryLogEntry).extend({ attemptLog: z.array(DeliveryAttemptDoc) }),
  'DeliveryLogEntry',
);
export const DeliveriesPageDoc = withOpenApi(
  classicObject(DeliveriesPage).extend({ items: z.array(DeliveryLogEntryDoc) }),
  'DeliveriesPage',
);
export const RecoverResultDoc = withOpenApi(classicObject(RecoverResult), 'RecoverResult');
export const WebhookMessageDoc = withOpenApi(classicObject(WebhookMessage), 'WebhookMessage', {
  description:
    'The body of every webhook: `data` is a ConnectionRequest (request.*, reply.*), a Summary (concur.state_changed) or `{message, webhook}` (webhook.test).',
});

const eventsMessage = `must be one of ${WEBHOOK_EVENT_TYPES.join(', ')}`;
const urlMessage = 'must be an http(s) URL of at most 2000 characters, e.g. https://partner.example/hooks/concur';
const urlField = z
  .url({ protocol: /^https?$/, error: urlMessage })
  .max(2000, { error: urlMessage })
  .openapi({ description: 'Where to POST the messages. Use https; private and loopback addresses are refused unless RELAY_WEBHOOK_ALLOW_PRIVATE=true.' });
const eventsField = z
  .array(z.enum(WEBHOOK_EVENT_TYPES, { error: eventsMessage }), { error: `must be a list of event types, e.g. ["request.created"]; ${eventsMessage}` })
  .min(1, { error: `must list at least one event type: ${WEBHOOK_EVENT_TYPES.join(', ')}` })
  .openapi({ description: 'The event types to send.' });
const descriptionField = z
  .string({ error: 'must be text of at most 500 characters' })
  .max(500, { error: 'must be text of at most 500 characters' })
  .optional()
  .openapi({ description: 'For people; "" clears it.' });

/** `POST /webhooks` body: the shared WebhookCreate, with messages that say what is valid. */
export const WebhookCreateApi = withOpenApi(
  classicObject(WebhookCreate).extend({ url: urlField, events: eventsField, description: descriptionField }).strict(),
  'WebhookCreate',
);

/** `PATCH /webhooks/{id}` body: the shared WebhookUpdate (any of the fields, and `state` to enable or disable). */
export const WebhookUpdateApi = withOpenApi(
  classicObject(WebhookUpdate)
    .extend({
      url: urlField.optional(),
      events: eventsField.optional(),
      description: descriptionField,
      state: z
        .enum(WebhookState.options, { error: 'must be enabled or disabled' })
        .optional()
        .openapi({ description: 'enabled clears disabledReason; disabled fails the pending deliveries (recover them later).' }),
    })
    .strict(),
  'WebhookUpdate',
);

export const RecoverBodyApi = withOpenApi(
  classicObject(RecoverBody).extend({
    since: z.iso
      .datetime({ offset: false, error: 'must be an ISO-8601 time in UTC, e.g. 2024-05-01T12:00:00Z' })
      .openapi({ description: 'Failed deliveries created at or after this time are sent again.' }),
  }).strict(),
  'RecoverBody',
);

export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const WebhookIdParams = z.object({
  id: z
    .string()
    .regex(ID_PATTERN, { error: 'must be a webhook id, e.g. wh_3q2V0aW5nX2lk' })
    .openapi({ param: { name: 'id', in: 'path' }, description: 'The webhook id.' }),
});
export const DeliveryParams = WebhookIdParams.extend({
  deliveryId: z
    .string()
    .regex(ID_PATTERN, { error: 'must be a delivery id, e.g. dlv_3q2V0aW5nX2lk' })
    .openapi({ param: { name: 'deliveryId', in: 'path' }, description: 'The delivery id.' }),
});

export const DeliveriesQueryApi = classicObject(DeliveriesQuery).extend({
  state: z
    .enum(DeliveryState.options, { error: `must be one of ${DeliveryState.options.join(', ')} (leave it out for all)` })
    .optional()
    .openapi({ description: 'Only deliveries in this state.' }),
  ...pagingOf(DeliveriesQuery.shape.limit, { min: 1, max: 100 }),
});
