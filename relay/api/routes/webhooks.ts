import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import {
  DeliveriesPage,
  Delivery,
  RecoverResult,
  Webhook,
  WebhookCreated,
  WebhookList,
} from '../../../shared/models.js';
import { UnknownWebhookError, type Deliveries, type Webhooks } from '../../store/index.js';
import { checkWebhookUrl, UrlRefusedError, type Resolver } from '../../outbound/ssrf.js';
import { actorOf, requestLogger, type AppEnv } from '../context.js';
import { ApiError, validationHook } from '../errors.js';
import { behindKey, errorResponses } from '../openapi.js';
import {
  DeliveriesPageDoc,
  DeliveriesQueryApi,
  DeliveryDoc,
  DeliveryParams,
  RecoverBodyApi,
  RecoverResultDoc,
  WebhookCreateApi,
  WebhookCreatedDoc,
  WebhookDoc,
  WebhookIdParams,
  WebhookListDoc,
  WebhookUpdateApi,
} from '../schemas.js';

/** What the webhook routes need beyond the store. */
export interface WebhooksApiDeps {
  /** RELAY_WEBHOOK_ALLOW_PRIVATE: accept URLs on private, loopback and link-local addresses. */
  allowPrivate: boolean;
  /** Wakes the delivery worker after a test, a resend or a recovery was queued. */
  kick(): void;
  /** Host name resolution for the URL check (default: the system resolver). */
  resolve?: Resolver;
}

export interface WebhooksRouteDeps {
  store: {
    webhooks: Pick<Webhooks, 'create' | 'list' | 'get' | 'update' | 'remove' | 'rotateSecret'>;
    deliveries: Pick<Deliveries, 'enqueueTest' | 'list' | 'resend' | 'recover'>;
  };
  webhooks: WebhooksApiDeps;
}

const TAGS = ['webhooks'];
const json = <T,>(schema: T) => ({ 'application/json': { schema } });

const createWebhook = createRoute({
  operationId: 'createWebhook',
  method: 'post',
  path: '/webhooks',
  tags: TAGS,
  summary: 'Subscribe an endpoint to webhook events',
  ...behindKey(
    'admin',
    'Answers the webhook and its signing secret (`whsec_…`); the secret is never shown again (rotate it to get a new one). The URL must be http(s) and, unless RELAY_WEBHOOK_ALLOW_PRIVATE=true, resolve only to public addresses.',
  ),
  request: { body: { required: true, content: json(WebhookCreateApi) } },
  responses: {
    201: { description: 'Created, with the secret.', content: json(WebhookCreatedDoc) },
    ...errorResponses(400, 401, 413, 415, 500, 503),
  },
});

const listWebhooks = createRoute({
  operationId: 'listWebhooks',
  method: 'get',
  path: '/webhooks',
  tags: TAGS,
  summary: 'All webhooks, oldest first',
  ...behindKey('admin'),
  responses: {
    200: { description: 'The webhooks (never their secrets).', content: json(WebhookListDoc) },
    ...errorResponses(401, 500, 503),
  },
});

const getWebhook = createRoute({
  operationId: 'getWebhook',
  method: 'get',
  path: '/webhooks/{id}',
  tags: TAGS,
  summary: 'One webhook',
  ...behindKey(
    'admin',
    'A disabled webhook says why in `disabledReason` (410 Gone from the endpoint, failing for 5 days, or disabled through the API).',
  ),
  request: { params: WebhookIdParams },
  responses: {
    200: { description: 'The webhook.', content: json(WebhookDoc) },
    ...errorResponses(400, 401, 404, 500, 503),
  },
});

const updateWebhook = createRoute({
  operationId: 'updateWebhook',
  method: 'patch',
  path: '/webhooks/{id}',
  tags: TAGS,
  summary: 'Change a webhook, or enable or disable it',
  ...behindKey('admin'),
  request: { params: WebhookIdParams, body: { required: true, content: json(WebhookUpdateApi) } },
  responses: {
    200: { description: 'The webhook as changed.', content: json(WebhookDoc) },
    ...errorResponses(400, 401, 404, 413, 415, 500, 503),
  },
});

const deleteWebhook = createRoute({
  operationId: 'deleteWebhook',
  method: 'delete',
  path: '/webhooks/{id}',
  tags: TAGS,
  summary: 'Remove a webhook, its secrets and its delivery log',
  ...behindKey('admin'),
  request: { params: WebhookIdParams },
  responses: {
    204: { description: 'Removed.' },
    ...errorResponses(400, 401, 404, 500, 503),
  },
});

const rotateSecret = createRoute({
  operationId: 'rotateWebhookSecret',
  method: 'post',
  path: '/webhooks/{id}/rotate-secret',
  tags: TAGS,
  summary: 'Give the webhook a new signing secret',
  ...behindKey(
    'admin',
    'Answers the new secret (once). For 24 hours the old secret signs too: `webhook-signature` carries both signatures, so the receiver can switch at its own pace.',
  ),
  request: { params: WebhookIdParams },
  responses: {
    200: { description: 'The webhook and its new secret.', content: json(WebhookCreatedDoc) },
    ...errorResponses(400, 401, 404, 500, 503),
  },
});

const testWebhook = createRoute({
  operationId: 'testWebhook',
  method: 'post',
  path: '/webhooks/{id}/test',
  tags: TAGS,
  summary: 'Send a webhook.test message',
  ...behindKey(
    'admin',
    'Queued like any message (same signing, same retries); follow it in the delivery log.',
  ),
  request: { params: WebhookIdParams },
  responses: {
    202: { description: 'Queued.', content: json(DeliveryDoc) },
    ...errorResponses(400, 401, 404, 409, 500, 503),
  },
});

const listDeliveries = createRoute({
  operationId: 'listDeliveries',
  method: 'get',
  path: '/webhooks/{id}/deliveries',
  tags: TAGS,
  summary: 'The delivery log of a webhook, newest first',
  ...behindKey(
    'admin',
    'Each delivery with its attempts (oldest first, at most the last 50): HTTP status, duration, the start of the answer (4 KiB), the error, and when the next attempt was scheduled.',
  ),
  request: { params: WebhookIdParams, query: DeliveriesQueryApi },
  responses: {
    200: { description: 'One page.', content: json(DeliveriesPageDoc) },
    ...errorResponses(400, 401, 404, 500, 503),
  },
});

const resendDelivery = createRoute({
  operationId: 'resendDelivery',
  method: 'post',
  path: '/webhooks/{id}/deliveries/{deliveryId}/resend',
  tags: TAGS,
  summary: 'Send one delivery again',
  ...behindKey(
    'admin',
    'A new chain of attempts (full retry schedule) for a delivery that succeeded or failed, with the same webhook-id so the receiver can tell it is a repeat.',
  ),
  request: { params: DeliveryParams },
  responses: {
    202: { description: 'Queued again.', content: json(DeliveryDoc) },
    ...errorResponses(400, 401, 404, 409, 500, 503),
  },
});

const recover = createRoute({
  operationId: 'recoverDeliveries',
  method: 'post',
  path: '/webhooks/{id}/recover',
  tags: TAGS,
  summary: 'Send again every failed delivery since a time',
  ...behindKey('admin'),
  request: { params: WebhookIdParams, body: { required: true, content: json(RecoverBodyApi) } },
  responses: {
    202: { description: 'How many deliveries were queued again.', content: json(RecoverResultDoc) },
    ...errorResponses(400, 401, 404, 409, 413, 415, 500, 503),
  },
});

/**
 * The webhook subscription API (mounted under /api/v1, behind the key). Only the 201 of a create
 * and the answer of rotate-secret carry a secret; nothing here logs one.
 */
export function webhooksRoutes(deps: WebhooksRouteDeps): OpenAPIHono<AppEnv> {
  const { store, webhooks } = deps;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  async function checkedUrl(url: string): Promise<string> {
    try {
      await checkWebhookUrl(url, { allowPrivate: webhooks.allowPrivate, resolve: webhooks.resolve });
      return url;
    } catch (err) {
      if (err instanceof UrlRefusedError) {
        throw new ApiError(400, 'webhook_url_refused', `body field url: ${err.message}`, [
          { in: 'body', field: 'url', message: err.message },
        ]);
      }
      throw err;
    }
  }

  function kick(c: Pick<Context<AppEnv>, 'get'>): void {
    try {
      webhooks.kick();
    } catch (err) {
      requestLogger(c)?.warn({ err }, 'could not wake the webhook worker; it will look on its next tick');
    }
  }

  app.openapi(createWebhook, async (c) => {
    const body = c.req.valid('json');
    const url = await checkedUrl(body.url);
    const created = await store.webhooks.create({ url, events: body.events, description: body.description }, actorOf(c));
    return c.json(WebhookCreated.parse(created), 201);
  });

  app.openapi(listWebhooks, async (c) => c.json(WebhookList.parse({ items: await store.webhooks.list() }), 200));

  app.openapi(getWebhook, async (c) => {
    const { id } = c.req.valid('param');
    const webhook = await store.webhooks.get(id);
    if (webhook === undefined) throw new UnknownWebhookError(id);
    return c.json(Webhook.parse(webhook), 200);
  });

  app.openapi(updateWebhook, async (c) => {
    const { id } = c.req.valid('param');
    const patch = c.req.valid('json');
    if ((await store.webhooks.get(id)) === undefined) throw new UnknownWebhookError(id);
    if (patch.url !== undefined) await checkedUrl(patch.url);
    const webhook = await store.webhooks.update(id, patch, actorOf(c));
    if (patch.state === 'enabled') kick(c);
    return c.json(Webhook.parse(webhook), 200);
  });

  app.openapi(deleteWebhook, async (c) => {
    const { id } = c.req.valid('param');
    if (!(await store.webhooks.remove(id, actorOf(c)))) throw new UnknownWebhookError(id);
    return c.body(null, 204);
  });

  app.openapi(rotateSecret, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(WebhookCreated.parse(await store.webhooks.rotateSecret(id, actorOf(c))), 200);
  });

  app.openapi(testWebhook, async (c) => {
    const { id } = c.req.valid('param');
    const delivery = await store.deliveries.enqueueTest(id);
    kick(c);
    return c.json(Delivery.parse(delivery), 202);
  });

  app.openapi(listDeliveries, async (c) => {
    const { id } = c.req.valid('param');
    const query = c.req.valid('query');
    return c.json(DeliveriesPage.parse(await store.deliveries.list(id, query)), 200);
  });

  app.openapi(resendDelivery, async (c) => {
    const { id, deliveryId } = c.req.valid('param');
    const delivery = await store.deliveries.resend(id, deliveryId);
    kick(c);
    return c.json(Delivery.parse(delivery), 202);
  });

  app.openapi(recover, async (c) => {
    const { id } = c.req.valid('param');
    const { since } = c.req.valid('json');
    const requeued = await store.deliveries.recover(id, since);
    if (requeued > 0) kick(c);
    return c.json(RecoverResult.parse({ requeued }), 202);
  });

  return app;
}
