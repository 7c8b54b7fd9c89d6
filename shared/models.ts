// zod/mini: the functional, tree-shakeable form of zod 4 (the same core, so the same parsing).
// The extension imports these models, and mini keeps its bundles small; the relay's OpenAPI layer
// turns them into classic zod schemas where it needs classic methods (relay/api/zod-classic.ts).
// Issue messages come from the locale classic zod registers when it builds its first schema: in the
// relay they read as before; in the extension (no classic zod) they are the generic "Invalid input",
// which it never shows.
import * as z from 'zod/mini';
import { Connection, ExchangeStatus } from './connections.js';
import { AutoConnect, RequestMatch } from './match.js';
import { IsoTime, pageOf, pagingOf } from './paging.js';
import { Role } from './roles.js';
import { Group, ReplyCode, StatusCode } from './status.js';


/**
 * queued: on its way to Concur; exchanging: a CRSUC whose request token is being exchanged for the
 * traveller's tokens first; waiting_token: that exchange could not work, a CRRET asked Concur for
 * a new token, and the CRSUC goes on by itself when the next poll brings it; sent; failed.
 */
export const ReplyState = z.enum(['queued', 'exchanging', 'waiting_token', 'sent', 'failed']);
export type ReplyState = z.infer<typeof ReplyState>;

export const Reply = z.object({
  status: ReplyCode,
  state: ReplyState,
  attempts: z.number().check(z.int(), z.nonnegative()),
  lastError: z.nullable(z.string()),
  updatedAt: IsoTime,
  /** Who asked for it: the name of the API key that sent it, or `auto`; null for replies from before names were kept. */
  requestedBy: z.nullable(z.string()),
});
export type Reply = z.infer<typeof Reply>;

/**
 * One connection request as the relay's API shows it. The request token is an OAuth credential
 * and is deliberately absent: it never leaves the relay.
 */
export const ConnectionRequest = z.object({
  id: z.string().check(z.minLength(1)),
  uri: z.nullable(z.string()),
  firstName: z.nullable(z.string()),
  middleName: z.nullable(z.string()),
  lastName: z.nullable(z.string()),
  loyaltyNumber: z.nullable(z.string()),
  discountCode: z.nullable(z.string()),
  status: StatusCode,
  group: Group,
  lastModified: IsoTime,
  firstSeenAt: IsoTime,
  requestTokenExpiresAt: z.nullable(IsoTime),
  /** CRRET replies Concur accepted (each asks for a new request token). */
  retries: z.number().check(z.int(), z.nonnegative()),
  /** How many CRRET the relay's Concur API version allows: 5 under 3.0, 48 under 3.2; one more is refused (409). */
  retryLimit: z.number().check(z.int(), z.nonnegative()),
  /** CREU1/2/3 replies Concur accepted: under 3.2 each requeues the request a day later. */
  userErrors: z.number().check(z.int(), z.nonnegative()),
  /** How many of those 3.2 requeues (4; one more is refused, 409); null under 3.0, where a CREU fails the request for good. */
  userErrorLimit: z.nullable(z.number().check(z.int(), z.nonnegative())),
  /** Concur's id of the traveller (API 3.2; null under 3.0): the password grant's username. */
  userId: z.nullable(z.string()),
  /** The traveller's addresses as Concur sends them (API 3.2), email1 first; [] under 3.0. */
  emailAddresses: z.array(z.string()),
  reply: z.nullable(Reply),
  /** The connection made for it (its tokens exchanged and kept), once there is one. */
  connectionId: z.nullable(z.string()),
  /** What the partner's member directory last said about it (auto-connect); null when it was not asked. */
  match: z.nullable(RequestMatch),
});
export type ConnectionRequest = z.infer<typeof ConnectionRequest>;

export const RequestsPage = pageOf(ConnectionRequest);
export type RequestsPage = z.infer<typeof RequestsPage>;

export const RequestsQuery = z.object({ group: z.optional(Group), ...pagingOf(200, 50) });
export type RequestsQuery = z.infer<typeof RequestsQuery>;

export const ReplyBody = z.strictObject({ status: ReplyCode });
export type ReplyBody = z.infer<typeof ReplyBody>;

export const ReplyResponse = z.object({ reply: Reply });
export type ReplyResponse = z.infer<typeof ReplyResponse>;

export const ConcurState = z.enum(['ok', 'degraded', 'unauthorized', 'unknown']);
export type ConcurState = z.infer<typeof ConcurState>;

export const Counts = z.object({
  pending: z.number().check(z.int(), z.nonnegative()),
  failed: z.number().check(z.int(), z.nonnegative()),
  connected: z.number().check(z.int(), z.nonnegative()),
});
export type Counts = z.infer<typeof Counts>;

export const Summary = z.object({
  counts: Counts,
  concur: z.object({
    state: ConcurState,
    lastPollAt: z.nullable(IsoTime),
    lastSuccessAt: z.nullable(IsoTime),
    lastError: z.nullable(z.string()),
  }),
  /** Whether a CRSUC can be sent: the relay must exchange the request token first (partner credentials). */
  exchange: ExchangeStatus,
  /** Whether the relay asks a member directory about new requests, and what it answers by itself (match.ts). */
  autoConnect: AutoConnect,
});
export type Summary = z.infer<typeof Summary>;

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.optional(z.unknown()),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/**
 * `GET /healthz`: `poller` whether this relay is the one polling Concur (of many relays on one
 * database, one polls; a relay on SQLite always does); `reason` says, for people, why the
 * database is not usable (only with 503).
 */
export const Health = z.object({ status: z.enum(['ok', 'unavailable']), poller: z.boolean(), reason: z.optional(z.string()) });

// ---- live events (server-sent events) ----

export const SSE_EVENT_TYPES = [
  'request.created',
  'request.updated',
  'reply.updated',
  'summary',
  'connection.created',
  'connection.updated',
] as const;
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
  'connection.created': Connection,
  'connection.updated': Connection,
} as const satisfies Record<SseEventType, z.ZodMiniType>;

// ---- webhooks ----

export const WEBHOOK_EVENT_TYPES = [
  'request.created',
  'request.updated',
  'reply.sent',
  'reply.failed',
  'concur.state_changed',
  'connection.established',
  'connection.broken',
  'connection.revoked',
] as const;
export const WebhookEventType = z.enum(WEBHOOK_EVENT_TYPES);
export type WebhookEventType = z.infer<typeof WebhookEventType>;

export const WebhookState = z.enum(['enabled', 'disabled']);

export const Webhook = z.object({
  id: z.string(),
  url: z.url(),
  events: z.array(WebhookEventType),
  description: z.nullable(z.string()),
  state: WebhookState,
  disabledReason: z.nullable(z.string()),
  createdAt: IsoTime,
});
export type Webhook = z.infer<typeof Webhook>;

export const WebhookCreate = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. https://partner.example/hooks/concur' }),
  events: z.array(WebhookEventType).check(z.minLength(1)),
  description: z.optional(z.string().check(z.maxLength(500))),
});
export type WebhookCreate = z.infer<typeof WebhookCreate>;

/** Every field of WebhookCreate optional, plus `state`; strict (a `never` catchall) like WebhookCreate. */
export const WebhookUpdate = z.catchall(
  z.extend(z.partial(WebhookCreate), { state: z.optional(WebhookState) }),
  z.never(),
);
export type WebhookUpdate = z.infer<typeof WebhookUpdate>;

export const WebhookCreated = z.object({ webhook: Webhook, secret: z.string().check(z.startsWith('whsec_')) });
export type WebhookCreated = z.infer<typeof WebhookCreated>;

export const DeliveryState = z.enum(['pending', 'succeeded', 'failed']);
export const Delivery = z.object({
  id: z.string(),
  webhookId: z.string(),
  messageId: z.string(),
  type: z.union([WebhookEventType, z.literal('webhook.test')]),
  state: DeliveryState,
  attempts: z.number().check(z.int(), z.nonnegative()),
  lastStatus: z.nullable(z.number().check(z.int())),
  lastError: z.nullable(z.string()),
  nextAttemptAt: z.nullable(IsoTime),
  updatedAt: IsoTime,
});
export type Delivery = z.infer<typeof Delivery>;

export const RecoverBody = z.strictObject({ since: IsoTime });

/** The body of every webhook the relay sends. */
export const WebhookMessage = z.object({
  type: z.union([WebhookEventType, z.literal('webhook.test')]),
  timestamp: IsoTime,
  data: z.unknown(),
});
export type WebhookMessage = z.infer<typeof WebhookMessage>;

// ---- webhooks: the shapes around the models above (additive) ----

/** `data` of each webhook message, by type. Request and reply events carry the whole request (with its latest reply). */
const WebhookTestData = z.object({ message: z.string(), webhook: Webhook });
export const WebhookEventData = {
  'request.created': ConnectionRequest,
  'request.updated': ConnectionRequest,
  'reply.sent': ConnectionRequest,
  'reply.failed': ConnectionRequest,
  'concur.state_changed': Summary,
  'connection.established': Connection,
  'connection.broken': Connection,
  'connection.revoked': Connection,
  'webhook.test': WebhookTestData,
} as const satisfies Record<WebhookEventType | 'webhook.test', z.ZodMiniType>;

export const WebhookList = z.object({ items: z.array(Webhook) });
export type WebhookList = z.infer<typeof WebhookList>;

/** One try at delivering a message, as the delivery log shows it. */
export const DeliveryAttempt = z.object({
  /** 1 for the first try of this delivery; resends and recoveries go on counting. */
  attempt: z.number().check(z.int(), z.positive()),
  at: IsoTime,
  /** The HTTP status the endpoint answered, or null when there was no answer (refused, timed out). */
  status: z.nullable(z.number().check(z.int())),
  durationMs: z.number().check(z.int(), z.nonnegative()),
  /** The start of the answer's body (at most 4 KiB), or null when there was none. */
  responseBody: z.nullable(z.string()),
  error: z.nullable(z.string()),
  /** When the next try was scheduled after this one; null when this one ended the chain. */
  nextAttemptAt: z.nullable(IsoTime),
});
export type DeliveryAttempt = z.infer<typeof DeliveryAttempt>;

/** A delivery with its attempts (oldest first), as `GET /api/v1/webhooks/:id/deliveries` lists them. */
export const DeliveryLogEntry = z.extend(Delivery, { createdAt: IsoTime, attemptLog: z.array(DeliveryAttempt) });
export type DeliveryLogEntry = z.infer<typeof DeliveryLogEntry>;

export const DeliveriesPage = pageOf(DeliveryLogEntry);
export type DeliveriesPage = z.infer<typeof DeliveriesPage>;

export const DeliveriesQuery = z.object({ state: z.optional(DeliveryState), ...pagingOf(100, 20) });
export type DeliveriesQuery = z.infer<typeof DeliveriesQuery>;

export const RecoverResult = z.object({ requeued: z.number().check(z.int(), z.nonnegative()) });
export type RecoverResult = z.infer<typeof RecoverResult>;
