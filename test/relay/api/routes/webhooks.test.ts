import { afterEach, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { Delivery, Webhook, WebhookCreated, WebhookList } from '../../../../shared/models.js';
import type { Resolver } from '../../../../relay/outbound/ssrf.js';
import { AUTH, errorOf, expectNoSecrets } from '../helpers.js';
import { ALL_EVENTS, WebhookHarness } from '../../push/webhooks/helpers.js';

/** The subscription API over real HTTP: shapes, validation, the URL guard, secrets shown once. */

let h: WebhookHarness;
afterEach(async () => {
  expectNoSecrets(h.api);
  await h.stop();
});

const resolve: Resolver = async (host) => {
  const table: Record<string, string> = {
    'hooks.partner.example': '93.184.216.34',
    'internal.partner.example': '10.20.30.40',
    'metadata.partner.example': '169.254.169.254',
  };
  const address = table[host];
  if (address === undefined) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return [{ address, family: 4 }];
};

function patch(path: string, body: unknown) {
  return h.api.fetch(path, {
    method: 'PATCH',
    headers: { ...AUTH, 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('subscribing', () => {
  it('answers 201 with the webhook and a whsec_ secret shown only this once', async () => {
    h = await new WebhookHarness().start();
    const answer = await h.api.post('/api/v1/webhooks', {
      url: `${h.receiver.url}/hook`,
      events: ['request.created', 'reply.failed', 'request.created'],
      description: 'ops system',
    });
    expect(answer.status).toBe(201);
    const created = WebhookCreated.parse(answer.json);
    expect(created.webhook).toEqual({
      id: expect.stringMatching(/^wh_[A-Za-z0-9_-]{16}$/),
      url: `${h.receiver.url}/hook`,
      events: ['request.created', 'reply.failed'],
      description: 'ops system',
      state: 'enabled',
      disabledReason: null,
      createdAt: h.clock.iso(),
    });
    // Standard Webhooks: whsec_ + base64 of 24–64 random bytes (here 32).
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(created.secret.slice(6), 'base64')).toHaveLength(32);

    const one = await h.api.get(`/api/v1/webhooks/${created.webhook.id}`);
    expect(one.status).toBe(200);
    expect(z.strictObject(Webhook.shape).parse(one.json)).toEqual(created.webhook);
    const list = await h.api.get('/api/v1/webhooks');
    expect(WebhookList.parse(list.json).items).toEqual([created.webhook]);

    // The secret appears in the 201 and nowhere else: not in other answers, not in the log.
    const secretBody = (text: string) => text.includes(created.secret.slice(6));
    expect(h.api.bodies.filter(secretBody)).toHaveLength(1);
    expect(h.api.logLines.some(secretBody)).toBe(false);
  });

  it('needs the API key', async () => {
    h = await new WebhookHarness().start();
    const answer = await h.api.fetch('/api/v1/webhooks', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: `${h.receiver.url}/hook`, events: ALL_EVENTS }),
    });
    expect(answer.status).toBe(401);
    expect((await h.api.get('/api/v1/webhooks', {})).status).toBe(401);
  });

  it.each([
    ['no url', { events: ['request.created'] }, /body field url: /],
    ['an ftp url', { url: 'ftp://partner.example/x', events: ['request.created'] }, /body field url: must be an http\(s\) URL/],
    ['not a url', { url: 'partner', events: ['request.created'] }, /body field url: must be an http\(s\) URL/],
    ['no events', { url: 'https://partner.example/x', events: [] }, /body field events: must list at least one event type: request\.created, request\.updated, reply\.sent, reply\.failed, concur\.state_changed/],
    ['an unknown event', { url: 'https://partner.example/x', events: ['request.deleted'] }, /body field events\.0: must be one of request\.created/],
    ['events not a list', { url: 'https://partner.example/x', events: 'request.created' }, /body field events: must be a list of event types/],
    ['an unknown field', { url: 'https://partner.example/x', events: ['request.created'], secret: 'whsec_x' }, /Unrecognized key: "secret"/],
    ['a long description', { url: 'https://partner.example/x', events: ['request.created'], description: 'x'.repeat(501) }, /body field description: must be text of at most 500 characters/],
    ['a very long url', { url: `https://partner.example/${'x'.repeat(2000)}`, events: ['request.created'] }, /at most 2000 characters/],
  ])('refuses %s with 400 and a message naming the field', async (_name, body, message) => {
    h = await new WebhookHarness().start();
    const answer = await h.api.post('/api/v1/webhooks', body);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(message) });
    expect(WebhookList.parse((await h.api.get('/api/v1/webhooks')).json).items).toEqual([]);
  });

  it('refuses a body that is not JSON, with 400 invalid_json', async () => {
    h = await new WebhookHarness().start();
    const answer = await h.api.post('/api/v1/webhooks', '{"url": ');
    expect(answer.status).toBe(400);
    expect(errorOf(answer).code).toBe('invalid_json');
  });
});

describe('the private-address guard', () => {
  it('refuses loopback, localhost and names that resolve to private addresses without the setting', async () => {
    h = await new WebhookHarness().start({ allowPrivate: false, resolve });
    const cases: Array<[string, RegExp]> = [
      [`http://127.0.0.1:${h.receiver.port}/hook`, /127\.0\.0\.1 is a loopback address; webhooks only go to public addresses unless RELAY_WEBHOOK_ALLOW_PRIVATE=true/],
      [`http://[::1]:${h.receiver.port}/hook`, /::1 is a loopback address/],
      ['https://internal.partner.example/hook', /internal\.partner\.example resolves to 10\.20\.30\.40, which is a private address/],
      ['https://metadata.partner.example/latest', /resolves to 169\.254\.169\.254, which is a link-local address/],
      ['http://100.64.1.1/hook', /carrier-grade NAT/],
      // IPv4-translated (::ffff:0:0:0/96): the URL parser writes it as ::ffff:0:7f00:1.
      [`http://[::ffff:0:127.0.0.1]:${h.receiver.port}/hook`, /::ffff:0:7f00:1 is a loopback address/],
      ['https://nowhere.partner.example/hook', /could not be resolved/],
    ];
    for (const [url, message] of cases) {
      const answer = await h.api.post('/api/v1/webhooks', { url, events: ['request.created'] });
      expect(answer.status, url).toBe(400);
      expect(errorOf(answer), url).toMatchObject({
        code: 'webhook_url_refused',
        message: expect.stringMatching(message),
        details: [{ in: 'body', field: 'url', message: expect.stringMatching(message) }],
      });
    }
    // `localhost` as the system resolver sees it.
    await h.stop();
    h = await new WebhookHarness().start({ allowPrivate: false });
    const local = await h.api.post('/api/v1/webhooks', { url: `http://localhost:${h.receiver.port}/hook`, events: ['request.created'] });
    expect(local.status).toBe(400);
    expect(errorOf(local).message).toMatch(/localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/);
    expect(WebhookList.parse((await h.api.get('/api/v1/webhooks')).json).items).toEqual([]);
  });

  it('accepts a public host, and refuses a change of URL to a private one', async () => {
    h = await new WebhookHarness().start({ allowPrivate: false, resolve });
    const created = await h.subscribe({ url: 'https://hooks.partner.example/concur' });
    const answer = await patch(`/api/v1/webhooks/${created.webhook.id}`, { url: 'https://internal.partner.example/concur' });
    expect(answer.status).toBe(400);
    expect(errorOf(answer).code).toBe('webhook_url_refused');
    expect(Webhook.parse((await h.api.get(`/api/v1/webhooks/${created.webhook.id}`)).json).url).toBe('https://hooks.partner.example/concur');
  });

  it('allows loopback and localhost with RELAY_WEBHOOK_ALLOW_PRIVATE on', async () => {
    h = await new WebhookHarness().start({ allowPrivate: true });
    for (const url of [`http://127.0.0.1:${h.receiver.port}/hook`, `http://localhost:${h.receiver.port}/hook`]) {
      expect((await h.api.post('/api/v1/webhooks', { url, events: ['request.created'] })).status, url).toBe(201);
    }
  });
});

describe('changing, rotating, removing', () => {
  it('changes events and description, and enables and disables with a visible reason', async () => {
    h = await new WebhookHarness().start();
    const { webhook } = await h.subscribe({ description: 'first' });
    const changed = await patch(`/api/v1/webhooks/${webhook.id}`, { events: ['reply.sent'], description: '' });
    expect(changed.status).toBe(200);
    expect(Webhook.parse(changed.json)).toMatchObject({ events: ['reply.sent'], description: null, state: 'enabled' });

    const disabled = Webhook.parse((await patch(`/api/v1/webhooks/${webhook.id}`, { state: 'disabled' })).json);
    expect(disabled).toMatchObject({ state: 'disabled', disabledReason: expect.stringMatching(/^disabled through the API at /) });
    const test = await h.api.post(`/api/v1/webhooks/${webhook.id}/test`, undefined);
    expect(test.status).toBe(409);
    expect(errorOf(test)).toMatchObject({ code: 'webhook_disabled', message: expect.stringContaining('PATCH {"state":"enabled"}') });

    const enabled = Webhook.parse((await patch(`/api/v1/webhooks/${webhook.id}`, { state: 'enabled' })).json);
    expect(enabled).toMatchObject({ state: 'enabled', disabledReason: null });
  });

  it.each([
    [{ state: 'paused' }, /body field state: must be enabled or disabled/],
    [{ events: [] }, /body field events: must list at least one event type/],
    [{ url: 'mailto:ops@partner.example' }, /body field url: must be an http\(s\) URL/],
    [{ id: 'wh_other' }, /Unrecognized key: "id"/],
  ])('refuses PATCH %j with 400', async (body, message) => {
    h = await new WebhookHarness().start();
    const { webhook } = await h.subscribe();
    const answer = await patch(`/api/v1/webhooks/${webhook.id}`, body);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(message) });
  });

  it('rotates the secret: a new one is shown once', async () => {
    h = await new WebhookHarness().start();
    const created = await h.subscribe();
    const rotated = await h.api.post(`/api/v1/webhooks/${created.webhook.id}/rotate-secret`, undefined);
    expect(rotated.status).toBe(200);
    const body = WebhookCreated.parse(rotated.json);
    expect(body.webhook).toEqual(created.webhook);
    expect(body.secret).toMatch(/^whsec_/);
    expect(body.secret).not.toBe(created.secret);
  });

  it('removes a webhook; then it is 404 everywhere', async () => {
    h = await new WebhookHarness().start();
    const { webhook } = await h.subscribe();
    const removed = await h.api.fetch(`/api/v1/webhooks/${webhook.id}`, { method: 'DELETE', headers: AUTH });
    expect(removed.status).toBe(204);
    expect(removed.text).toBe('');
    for (const [method, path] of [
      ['GET', `/api/v1/webhooks/${webhook.id}`],
      ['DELETE', `/api/v1/webhooks/${webhook.id}`],
      ['POST', `/api/v1/webhooks/${webhook.id}/test`],
      ['POST', `/api/v1/webhooks/${webhook.id}/rotate-secret`],
      ['GET', `/api/v1/webhooks/${webhook.id}/deliveries`],
      ['POST', `/api/v1/webhooks/${webhook.id}/deliveries/dlv_nothing/resend`],
    ] as const) {
      const answer = await h.api.fetch(path, { method, headers: AUTH });
      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(errorOf(answer)).toMatchObject({ code: 'not_found', message: expect.stringContaining(webhook.id) });
    }
  });
});

describe('test events, the delivery log and recovery: request checks', () => {
  it('answers 202 with the queued delivery for a test event', async () => {
    h = await new WebhookHarness().start();
    const { webhook } = await h.subscribe();
    const answer = await h.api.post(`/api/v1/webhooks/${webhook.id}/test`, undefined);
    expect(answer.status).toBe(202);
    expect(z.strictObject(Delivery.shape).parse(answer.json)).toMatchObject({
      webhookId: webhook.id,
      messageId: expect.stringMatching(/^msg_[A-Za-z0-9_-]+$/),
      type: 'webhook.test',
      state: 'pending',
      attempts: 0,
      nextAttemptAt: h.clock.iso(),
    });
  });

  it.each([
    ['/deliveries?limit=0', /query parameter limit: must be a whole number from 1 to 100/],
    ['/deliveries?limit=0x10', /query parameter limit: must be a whole number from 1 to 100 in plain decimal digits/],
    ['/deliveries?limit=1e1', /query parameter limit: must be a whole number from 1 to 100 in plain decimal digits/],
    ['/deliveries?limit=%2010', /query parameter limit: must be a whole number from 1 to 100 in plain decimal digits/],
    ['/deliveries?state=lost', /query parameter state: must be one of pending, succeeded, failed/],
    ['/deliveries?cursor=!!', /cursor is not valid/],
  ])('refuses GET …%s with 400', async (query, message) => {
    h = await new WebhookHarness().start();
    const { webhook } = await h.subscribe();
    const answer = await h.api.get(`/api/v1/webhooks/${webhook.id}${query}`);
    expect(answer.status).toBe(400);
    expect(errorOf(answer).message).toMatch(message);
  });

  it.each([
    [{}, /body field since: /],
    [{ since: '2024-05-01T12:00:00+02:00' }, /body field since: must be an ISO-8601 time in UTC, e.g. 2024-05-01T12:00:00Z/],
    [{ since: 'yesterday' }, /must be an ISO-8601 time in UTC/],
    [{ since: '2024-05-01T12:00:00Z', all: true }, /Unrecognized key: "all"/],
  ])('refuses recover %j with 400', async (body, message) => {
    h = await new WebhookHarness().start();
    const { webhook } = await h.subscribe();
    const answer = await h.api.post(`/api/v1/webhooks/${webhook.id}/recover`, body);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(message) });
  });
});

describe('the OpenAPI document', () => {
  it('describes the webhook routes, their models, and the messages the relay sends', async () => {
    h = await new WebhookHarness().start();
    const doc = (await h.api.get('/openapi.json', {})).json as {
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
      webhooks: Record<string, { post: { requestBody: unknown } }>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(doc.paths['/api/v1/webhooks']?.post?.responses).toHaveProperty('201');
    expect(doc.paths['/api/v1/webhooks/{id}']?.delete?.responses).toHaveProperty('204');
    expect(doc.paths['/api/v1/webhooks/{id}/test']?.post?.security).toEqual([{ apiKey: [] }]);
    for (const name of ['Webhook', 'WebhookCreate', 'WebhookUpdate', 'WebhookCreated', 'Delivery', 'DeliveryAttempt', 'DeliveriesPage', 'RecoverBody', 'WebhookMessage']) {
      expect(doc.components.schemas, name).toHaveProperty(name);
    }
    expect(Object.keys(doc.components.schemas.Webhook?.properties ?? {})).not.toContain('secret');
    expect(Object.keys(doc.webhooks).sort()).toEqual([...ALL_EVENTS, 'webhook.test'].sort());
  });
});
