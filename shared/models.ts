import { z } from 'zod';
import { Group, ReplyCode, StatusCode } from './status.js';

/** ISO-8601 in UTC with a `Z`, the only time format the API speaks. */
export const IsoTime = z.iso.datetime({ offset: false });

export const ReplyState = z.enum(['queued', 'sent', 'failed']);
export type ReplyState = z.infer<typeof ReplyState>;

export const Reply = z.object({
  status: ReplyCode,
  state: ReplyState,
  attempts: z.number().int().nonnegative(),
  lastError: z.string().nullable(),
  updatedAt: IsoTime,
});
export type Reply = z.infer<typeof Reply>;

/**
 * One connection request as the relay's API shows it. The request token is an OAuth credential
 * and is deliberately absent: it never leaves the relay.
 */
export const ConnectionRequest = z.object({
  id: z.string().min(1),
  uri: z.string().nullable(),
  firstName: z.string().nullable(),
  middleName: z.string().nullable(),
  lastName: z.string().nullable(),
  loyaltyNumber: z.string().nullable(),
  discountCode: z.string().nullable(),
  status: StatusCode,
  group: Group,
  lastModified: IsoTime,
  firstSeenAt: IsoTime,
  requestTokenExpiresAt: IsoTime.nullable(),
  retries: z.number().int().nonnegative(),
  reply: Reply.nullable(),
});
export type ConnectionRequest = z.infer<typeof ConnectionRequest>;

export const RequestsPage = z.object({
  items: z.array(ConnectionRequest),
  nextCursor: z.string().nullable(),
});
export type RequestsPage = z.infer<typeof RequestsPage>;

export const RequestsQuery = z.object({
  group: Group.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).optional(),
});
export type RequestsQuery = z.infer<typeof RequestsQuery>;

export const ReplyBody = z.object({ status: ReplyCode }).strict();
export type ReplyBody = z.infer<typeof ReplyBody>;

export const ReplyResponse = z.object({ reply: Reply });
export type ReplyResponse = z.infer<typeof ReplyResponse>;

export const ConcurState = z.enum(['ok', 'degraded', 'unauthorized', 'unknown']);
export type ConcurState = z.infer<typeof ConcurState>;

export const Counts = z.object({
  pending: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  connected: z.number().int().nonnegative(),
});
export type Counts = z.infer<typeof Counts>;

export const Summary = z.object({
  counts: Counts,
  concur: z.object({
    state: ConcurState,
    lastPollAt: IsoTime.nullable(),
    lastSuccessAt: IsoTime.nullable(),
    lastError: z.string().nullable(),
  }),
});
export type Summary = z.infer<typeof Summary>;

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const Health = z.object({ status: z.enum(['ok', 'unavailable']) });

// ---- live events (server-sent events) ----

export const SSE_EVENT_TYPES = ['request.created', 'request.updated', 'reply.updated', 'summary'] as const;
export const SseEventType = z.enum(SSE_EVENT_TYPES);
export type SseEventType = z.infer<typeof SseEventType>;

export const ReplyUpdatedData = z.object({ requestId: z.string(), reply: Reply });
export type ReplyUpdatedData = z.infer<typeof ReplyUpdatedData>;

/** The `data` of each server-sent event, by event name. */
export const SseEventData = {
  'request.created': ConnectionRequest,
  'request.updated': ConnectionRequest,
  'reply.updated': ReplyUpdatedData,
  summary: Summary,
} as const satisfies Record<SseEventType, z.ZodType>;

// ---- webhooks ----

export const WEBHOOK_EVENT_TYPES = [
  'request.created',
  'request.updated',
  'reply.sent',
  'reply.failed',
  'concur.state_changed',
] as const;
export const WebhookEventType = z.enum(WEBHOOK_EVENT_TYPES);
export type WebhookEventType = z.infer<typeof WebhookEventType>;

export const WebhookState = z.enum(['enabled', 'disabled']);

export const Webhook = z.object({
  id: z.string(),
  url: z.url(),
  events: z.array(WebhookEventType),
  description: z.string().nullable(),
  state: WebhookState,
  disabledReason: z.string().nullable(),
  createdAt: IsoTime,
});
export type Webhook = z.infer<typeof Webhook>;

export const WebhookCreate = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. https://partner.example/hooks/concur' }),
    events: z.array(WebhookEventType).min(1),
    description: z.string().max(500).optional(),
  })
  .strict();
export type WebhookCreate = z.infer<typeof WebhookCreate>;

export const WebhookUpdate = WebhookCreate.partial()
  .extend({ state: WebhookState.optional() })
  .strict();
export type WebhookUpdate = z.infer<typeof WebhookUpdate>;

export const WebhookCreated = z.object({ webhook: Webhook, secret: z.string().startsWith('whsec_') });
export type WebhookCreated = z.infer<typeof WebhookCreated>;

export const DeliveryState = z.enum(['pending', 'succeeded', 'failed']);
export const Delivery = z.object({
  id: z.string(),
  webhookId: z.string(),
  messageId: z.string(),
  type: z.union([WebhookEventType, z.literal('webhook.test')]),
  state: DeliveryState,
  attempts: z.number().int().nonnegative(),
  lastStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  nextAttemptAt: IsoTime.nullable(),
  updatedAt: IsoTime,
});
export type Delivery = z.infer<typeof Delivery>;

export const RecoverBody = z.object({ since: IsoTime }).strict();

/** The body of every webhook the relay sends. */
export const WebhookMessage = z.object({
  type: z.union([WebhookEventType, z.literal('webhook.test')]),
  timestamp: IsoTime,
  data: z.unknown(),
});
export type WebhookMessage = z.infer<typeof WebhookMessage>;

// ---- webhooks: the shapes around the models above (additive) ----

/** `data` of each webhook message, by type. Request and reply events carry the whole request (with its latest reply). */
export const WebhookTestData = z.object({ message: z.string(), webhook: Webhook });
export const WebhookEventData = {
  'request.created': ConnectionRequest,
  'request.updated': ConnectionRequest,
  'reply.sent': ConnectionRequest,
  'reply.failed': ConnectionRequest,
  'concur.state_changed': Summary,
  'webhook.test': WebhookTestData,
} as const satisfies Record<WebhookEventType | 'webhook.test', z.ZodType>;

export const WebhookList = z.object({ items: z.array(Webhook) });
export type WebhookList = z.infer<typeof WebhookList>;

/** One try at delivering a message, as the delivery log shows it. */
export const DeliveryAttempt = z.object({
  /** 1 for the first try of this delivery; resends and recoveries go on counting. */
  attempt: z.number().int().positive(),
  at: IsoTime,
  /** The HTTP status the endpoint answered, or null when there was no answer (refused, timed out). */
  status: z.number().int().nullable(),
  durationMs: z.number().int().nonnegative(),
  /** The start of the answer's body (at most 4 KiB), or null when there was none. */
  responseBody: z.string().nullable(),
  error: z.string().nullable(),
  /** When the next try was scheduled after this one; null when this one ended the chain. */
  nextAttemptAt: IsoTime.nullable(),
});
export type DeliveryAttempt = z.infer<typeof DeliveryAttempt>;

/** A delivery with its attempts (oldest first), as `GET /api/v1/webhooks/:id/deliveries` lists them. */
export const DeliveryLogEntry = Delivery.extend({ createdAt: IsoTime, attemptLog: z.array(DeliveryAttempt) });
export type DeliveryLogEntry = z.infer<typeof DeliveryLogEntry>;

export const DeliveriesPage = z.object({ items: z.array(DeliveryLogEntry), nextCursor: z.string().nullable() });
export type DeliveriesPage = z.infer<typeof DeliveriesPage>;

export const DeliveriesQuery = z.object({
  state: DeliveryState.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).optional(),
});
export type DeliveriesQuery = z.infer<typeof DeliveriesQuery>;

export const RecoverResult = z.object({ requeued: z.number().int().nonnegative() });
export type RecoverResult = z.infer<typeof RecoverResult>;
