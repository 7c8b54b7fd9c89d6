import type { OpenAPIHono } from '@hono/zod-openapi';
import { z } from '@hono/zod-openapi';
import { WEBHOOK_EVENT_TYPES } from '../../shared/models.js';
import { ROLES, type Permission, type Role } from '../../shared/roles.js';
import type { AppEnv } from './context.js';
import { requires, ROLES_EXTENSION, type PermissionDeclaration } from './permissions.js';
import { ErrorBodyDoc, WebhookMessageDoc } from './schemas.js';

/** The name of the API-key security scheme in the document. */
const SECURITY_SCHEME = 'apiKey';
/** `security` of every route under /api/v1. */
export const API_KEY_SECURITY: Array<Record<string, string[]>> = [{ [SECURITY_SCHEME]: [] }];

/** "viewer, replier or admin". */
function roleWords(roles: readonly Role[]): string {
  return roles.length < 2 ? roles.join('') : `${roles.slice(0, -1).join(', ')} or ${roles[roles.length - 1]!}`;
}

/**
 * Spread into the OpenAPI definition of every route behind the API key, in place of its own
 * `security` and `description`: `createRoute({ …, ...behindKey('reply', 'What it does.') })`.
 * It declares the permission (`requires`, which the role guard enforces), the key (`security`,
 * so a generated client sends it), and says in the description which roles may call the route:
 * x-roles is an extension that generators and documentation viewers do not show, the description
 * they all do. All three from the one permission, so they cannot disagree.
 */
export function behindKey(
  permission: Permission,
  description?: string,
): PermissionDeclaration & { security: typeof API_KEY_SECURITY; description: string } {
  const declaration = requires(permission);
  const holders = declaration[ROLES_EXTENSION];
  const roles =
    holders.length === ROLES.length
      ? `Roles: any API key, whatever its role (${roleWords(holders)}: x-roles, which hold the \`${permission}\` permission).`
      : `Roles: an API key whose role is ${roleWords(holders)} (x-roles, which hold the \`${permission}\` permission); any other key gets 403 \`forbidden\`.`;
  return { ...declaration, security: API_KEY_SECURITY, description: description === undefined ? roles : `${description}\n\n${roles}` };
}

/** `security` of the open routes (/healthz, /metrics, /openapi.json): said outright, so no reader wonders. */
export const NO_SECURITY: Array<Record<string, string[]>> = [];

const ERROR_DESCRIPTIONS: Record<ErrorStatus, string> = {
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
  503: 'storage_unavailable: the database cannot be used (disk full, read-only file, I/O errors, locked by another writer); nothing was accepted, try again after Retry-After. On the event stream also shutting_down or unavailable.',
};
type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503;

/**
 * 408 comes from Node's HTTP server, not from the app: a request whose headers took more than
 * 10 s, or whose whole self more than 30 s, to arrive (relay/api/server.ts). Any operation can
 * meet it, and it has no body.
 */
const REQUEST_TIMEOUT = {
  description:
    'The request did not arrive in time (its headers within 10 s, all of it within 30 s): the HTTP server answers with no body and closes the connection.',
} as const;

/** What a 503 or a 429 carries besides its body. */
const RETRY_AFTER = z.object({
  'Retry-After': z.string().optional().openapi({ description: 'Seconds to wait before trying again.', example: '30' }),
});

/** The statuses a route's own list implies: every route can fail (500); behind the key (401) also 403, 429 and 503. */
type ImpliedStatus<S extends ErrorStatus> = S | 500 | (401 extends S ? 403 | 429 | 503 : never);
type ErrorEntry = { description: string; headers?: typeof RETRY_AFTER; content: { 'application/json': { schema: typeof ErrorBodyDoc } } };

/**
 * OpenAPI `responses` entries for the error answers a route can give, all with the Error body,
 * and the server's 408 (no body). Every route can answer 500. A route behind the key (401) also
 * answers 403 (its role), 429 (wrong keys from the address) and 503 (the key is looked up in the
 * database, which may be unusable).
 */
export function errorResponses<S extends ErrorStatus = never>(...statuses: S[]): Record<ImpliedStatus<NoInfer<S>>, ErrorEntry> & { 408: typeof REQUEST_TIMEOUT } {
  const implied: ErrorStatus[] = statuses.includes(401 as S) ? [...statuses, 403, 429, 500, 503] : [...statuses, 500];
  const entries = [...new Set(implied)]
    .sort((a, b) => a - b)
    .map((status): [ErrorStatus, ErrorEntry] => [
      status,
      {
        description: ERROR_DESCRIPTIONS[status],
        ...(status === 503 || status === 429 ? { headers: RETRY_AFTER } : {}),
        content: { 'application/json': { schema: ErrorBodyDoc } },
      },
    ]);
  return { 408: REQUEST_TIMEOUT, ...(Object.fromEntries(entries) as Record<ImpliedStatus<S>, ErrorEntry>) };
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
      operationId: webhookOperationId(type),
      summary: `The ${type} message`,
      description:
        'POSTed by the relay to each webhook subscribed to this type. It carries no API key: the receiver proves it came from the relay by the `webhook-signature` header, made with the webhook\'s secret.',
      // The signature is not an OpenAPI security scheme (it signs the body); no scheme is claimed.
      security: NO_SECURITY,
      request: { headers, body: { content: { 'application/json': { schema: WebhookMessageDoc } } } },
      responses: {
        200: { description: 'Any 2xx: delivered. 410: the webhook is disabled. Anything else (redirects included): retried on the schedule 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.' },
      },
    });
  }
}

/** `request.created` → `onRequestCreated`: what a receiver's generated handler is called. */
function webhookOperationId(type: string): string {
  return `on${type
    .split(/[._]/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('')}`;
}

const DOCUMENT_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'TripLink Relay API',
    version: '1.0.0',
    description:
      "SAP Concur connection requests as a JSON API. Every route under /api/v1 needs `Authorization: Bearer <api key>`, and a key whose role may call it: each operation names the permission it needs (`x-required-permission`) and the roles that hold it (`x-roles`); other keys get 403 `forbidden`. Errors are `{\"error\":{\"code\",\"message\",\"details\"?}}`. Request bodies are JSON in UTF-8 (`Content-Type: application/json`, optionally `; charset=utf-8`), at most 64 KiB.",
    // The repository is private and carries no licence; the document says so rather than name one.
    license: { name: 'Proprietary: no licence is granted', identifier: 'LicenseRef-Proprietary' },
  },
  // Relative, so the document stays true wherever the relay is reached (loopback, a host name, a
  // proxy that serves it at the root of its host): the paths start at the root of the address the
  // document was read from. A client generated from it is given that address as its base URL.
  servers: [
    {
      url: '/',
      description:
        "The relay that serves this document: the paths start at the root of its address, e.g. http://127.0.0.1:8787 (a generated client's base URL).",
    },
  ],
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

export type OpenApiDocument = ReturnType<OpenAPIHono<AppEnv>['getOpenAPI31Document']>;

/** The OpenAPI 3.1 document of `app`, built once on first use. */
export function documentOf(app: OpenAPIHono<AppEnv>): () => OpenApiDocument {
  let document: OpenApiDocument | undefined;
  return () => {
    document ??= app.getOpenAPI31Document({
      ...DOCUMENT_INFO,
      info: { ...DOCUMENT_INFO.info, license: { ...DOCUMENT_INFO.info.license } },
      servers: DOCUMENT_INFO.servers.map((server) => ({ ...server })),
      tags: [...DOCUMENT_INFO.tags],
    });
    return document;
  };
}
