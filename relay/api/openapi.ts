import type { OpenAPIHono } from '@hono/zod-openapi';
import { z } from '@hono/zod-openapi';
import { WEBHOOK_EVENT_TYPES } from '../../shared/models.js';
import type { AppEnv } from './context.js';
import { ErrorBodyDoc, WebhookMessageDoc } from './schemas.js';

/** The name of the API-key security scheme in the document. */
const SECURITY_SCHEME = 'apiKey';
/** `security` of every route under /api/v1. */
export const API_KEY_SECURITY: Array<Record<string, string[]>> = [{ [SECURITY_SCHEME]: [] }];

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is not valid (the message names the field and what is valid).',
  401: 'No API key, a wrong one, or a revoked one.',
  403: "forbidden: the key's role may not do this (the message names the key and the roles that may); see x-roles.",
  404: 'Not found.',
  409: 'Conflict with the state of the request.',
  413: 'The request body is over 64 KiB.',
  415: 'The request body is not JSON, or its Content-Type names a charset other than UTF-8.',
  422: 'The Idempotency-Key was used for a different request or body.',
  429: 'too_many_attempts: more than 20 wrong API keys in a minute from this address; wait Retry-After seconds (a valid key is not slowed).',
  500: 'An internal error (details only in the relay log).',
  503: 'storage_unavailable: the database cannot write (disk full, read-only file, I/O errors); nothing was accepted, try again after Retry-After. On the event stream also shutting_down or unavailable.',
};

/** What a 503 or a 429 carries besides its body. */
const RETRY_AFTER = z.object({
  'Retry-After': z.string().optional().openapi({ description: 'Seconds to wait before trying again.', example: '30' }),
});

/**
 * OpenAPI `responses` entries for the error answers a route can give, all with the Error body. A
 * route behind the key (401) also answers 403 (its role) and 429 (wrong keys from the address).
 */
export function errorResponses<S extends number>(...statuses: S[]) {
  const all: Array<S | 403 | 429> = statuses.includes(401 as S) ? [...new Set([...statuses, 403 as const, 429 as const])].sort() : statuses;
  const entries = all.map((status) => [
    status,
    {
      description: ERROR_DESCRIPTIONS[status] ?? 'An error.',
      ...(status === 503 || status === 429 ? { headers: RETRY_AFTER } : {}),
      content: { 'application/json': { schema: ErrorBodyDoc } },
    },
  ]);
  return Object.fromEntries(entries) as Record<
    S | 403 | 429,
    { description: string; headers?: typeof RETRY_AFTER; content: { 'application/json': { schema: typeof ErrorBodyDoc } } }
  >;
}

/**
 * Registers what the document describes beyond the routes: the API-key security scheme and the
 * messages sent to webhooks.
 */
export function registerDocumentExtras(app: OpenAPIHono<AppEnv>): void {
  registerOutgoingWebhooks(app);
  app.openAPIRegistry.registerComponent('securitySchemes', SECURITY_SCHEME, {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API key (`trl_…`, made with `POST /api/v1/keys` or the `keys create` command, or one of RELAY_API_KEYS), sent as `Authorization: Bearer <api key>`. Its role decides which routes it may call: see each operation\'s x-roles.',
  });
}

/** The messages the relay POSTs to subscribers, under the document's `webhooks` (OpenAPI 3.1). */
function registerOutgoingWebhooks(app: OpenAPIHono<AppEnv>): void {
  const headers = z.object({
    'webhook-id': z.string().openapi({ description: 'The message id (msg_…): the same on every retry and resend; dedupe on it.' }),
    'webhook-timestamp': z.string().openapi({ description: 'Unix seconds when this attempt was made.' }),
    'webhook-signature': z.string().openapi({
      description:
        'Space-separated `v1,<base64>`: HMAC-SHA256 with the base64-decoded secret (after `whsec_`) over `{webhook-id}.{webhook-timestamp}.{body}`. Two during the 24 hours after a rotation.',
    }),
  });
  for (const type of [...WEBHOOK_EVENT_TYPES, 'webhook.test']) {
    app.openAPIRegistry.registerWebhook({
      method: 'post',
      path: type,
      tags: ['webhooks'],
      summary: `The ${type} message`,
      request: { headers, body: { content: { 'application/json': { schema: WebhookMessageDoc } } } },
      responses: {
        200: { description: 'Any 2xx: delivered. 410: the webhook is disabled. Anything else (redirects included): retried on the schedule 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.' },
      },
    });
  }
}

const DOCUMENT_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'TripLink Relay API',
    version: '1.0.0',
    description:
      "SAP Concur connection requests as a JSON API. Every route under /api/v1 needs `Authorization: Bearer <api key>`, and a key whose role may call it: each operation names the permission it needs (`x-required-permission`) and the roles that hold it (`x-roles`); other keys get 403 `forbidden`. Errors are `{\"error\":{\"code\",\"message\",\"details\"?}}`. Request bodies are JSON in UTF-8 (`Content-Type: application/json`, optionally `; charset=utf-8`), at most 64 KiB.",
  },
  tags: [
    { name: 'requests', description: 'Connection requests and status replies' },
    { name: 'summary', description: 'Counts and the state of the link to Concur' },
    { name: 'events', description: 'Live updates' },
    { name: 'connections', description: "Travellers' accounts linked for the partner: their state, their tokens (broker keys) and revocation" },
    { name: 'keys', description: 'API keys, their roles, and who the caller is' },
    { name: 'audit', description: 'Who did what: keys, replies, webhooks' },
    { name: 'webhooks', description: 'Signed webhooks (Standard Webhooks) to other systems: subscriptions and the delivery log' },
    { name: 'operations', description: 'Health, metrics and this document' },
  ],
} as const;

/** The OpenAPI 3.1 document of `app`, built once on first use. */
export function documentOf(app: OpenAPIHono<AppEnv>): () => unknown {
  let document: unknown;
  return () => {
    document ??= app.getOpenAPI31Document({ ...DOCUMENT_INFO, tags: [...DOCUMENT_INFO.tags] });
    return document;
  };
}
