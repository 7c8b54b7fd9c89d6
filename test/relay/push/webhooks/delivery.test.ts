import { WebhookVerificationError } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as z from 'zod/mini';
import {
  Delivery,
  DeliveryAttempt,
  Webhook,
  WebhookEventData,
  WebhookMessage,
} from '../../../../shared/models.js';
import { DISABLE_AFTER_MS } from '../../../../relay/push/webhooks/delivery.js';
import { RETRY_SCHEDULE_MS } from '../../../../relay/push/webhooks/schedule.js';
import { AUTH, errorOf, record } from '../../api/helpers.js';
import { DATABASES } from '../../store/databases.js';
import { WebhookHarness, verifyAt, type Received } from './helpers.js';

/**
 * Delivery over real HTTP to a receiver on loopback, with the worker on the API's store and a
 * hand-moved clock (the retry schedule of hours runs in milliseconds), on both databases.
 * Signatures are checked with the independent `standardwebhooks` package.
 */

let h: WebhookHarness;
afterEach(async () => {
  await h.stop();
});

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;

/** A trigger that makes every insert into `deliveries` fail, and its removal, in each database's words. */
const NO_DELIVERIES = {
  sqlite: {
    refuse: ["CREATE TRIGGER no_deliveries BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'deliveries refused'); END"],
    allow: 'DROP TRIGGER no_deliveries',
  },
  postgres: {
    refuse: [
      "CREATE FUNCTION refuse_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'deliveries refused'; END $$",
      'CREATE TRIGGER no_deliveries BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION refuse_deliveries()',
    ],
    allow: 'DROP TRIGGER no_deliveries ON deliveries',
  },
} as const;

function message(received: Received) {
  return WebhookMessage.parse(JSON.parse(received.body));
}

/** A seeded source of numbers in [0, 1), for jitter that varies but repeats. */
function seeded(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x * 1664525 + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

describe.each(DATABASES)('webhooks on $name', (database) => {
  describe('a delivery', () => {
    it('is POSTed as JSON with Standard Webhooks headers that standardwebhooks verifies; the log shows the attempt', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook, secret } = await h.subscribe();
      const queued = await h.sendTest(webhook.id);
      await h.worker.drain();

      const [received] = await h.receiver.waitFor(1);
      expect(received).toMatchObject({ method: 'POST', path: '/hooks/concur?token=receiver-side-token' });
      expect(received!.headers).toMatchObject({
        'content-type': 'application/json',
        'webhook-id': queued.messageId,
        'webhook-timestamp': String(Math.floor(h.clock.ms / 1000)),
        'webhook-signature': expect.stringMatching(/^v1,[A-Za-z0-9+/]{43}=$/),
        'user-agent': expect.stringContaining('TripLink-Relay'),
      });
      const verified = verifyAt(secret, received!, h.clock.ms);
      const body = message(received!);
      expect(verified).toEqual(body);
      expect(body).toEqual({ type: 'webhook.test', timestamp: h.clock.iso(), data: expect.anything() });
      expect(WebhookEventData['webhook.test'].parse(body.data).webhook).toEqual(webhook);

      // Tampering is caught by the same library: the relay signs exactly these bytes.
      expect(() => verifyAt(secret, { ...received!, body: received!.body.replace('webhook.test', 'webhook.tesT') }, h.clock.ms)).toThrow(
        WebhookVerificationError,
      );

      const page = await h.deliveries(webhook.id);
      expect(page.items).toHaveLength(1);
      const entry = page.items[0]!;
      expect(Delivery.parse(entry)).toMatchObject({
        id: queued.id,
        messageId: queued.messageId,
        type: 'webhook.test',
        state: 'succeeded',
        attempts: 1,
        lastStatus: 204,
        lastError: null,
        nextAttemptAt: null,
      });
      expect(entry.attemptLog).toHaveLength(1);
      expect(z.strictObject(DeliveryAttempt.shape).parse(entry.attemptLog[0])).toEqual({
        attempt: 1,
        at: h.clock.iso(),
        status: 204,
        durationMs: expect.any(Number),
        responseBody: null,
        error: null,
        nextAttemptAt: null,
      });
    });

    it('keeps the start of the answer in the log, at most 4 KiB', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      h.receiver.reply({ status: 500, body: 'E'.repeat(10_000) });
      await h.sendTest(webhook.id);
      await h.worker.drain();
      const [entry] = (await h.deliveries(webhook.id)).items;
      expect(entry!.attemptLog[0]).toMatchObject({ status: 500, responseBody: 'E'.repeat(4096), error: 'the endpoint answered 500; only 2xx counts as delivered' });
    });

    it('carries the shared models and never a request token', async () => {
      h = await new WebhookHarness(database).start();
      await h.subscribe();
      await h.store.requests.upsertFromConcur([record('R1'), record('R2', { status: 'CREU1' })], h.clock.iso());
      await h.store.requests.upsertFromConcur([record('R1', { firstName: 'Grace' })], h.clock.advance(S));
      await h.worker.drain();
      const received = await h.receiver.waitFor(3);
      expect(received.map((r) => message(r).type)).toEqual(['request.created', 'request.created', 'request.updated']);
      for (const r of received) {
        const body = message(r);
        expect(body.type === 'request.created' || body.type === 'request.updated').toBe(true);
        // Exactly the API's ConnectionRequest: nothing more.
        z.strictObject(WebhookEventData[body.type as 'request.created'].shape).parse(body.data);
        expect(r.body).not.toContain('secret-request-token-');
        expect(r.body).not.toContain('"requestToken"');
      }
      expect((message(received[2]!).data as { firstName: string }).firstName).toBe('Grace');
      // Each message has its own webhook-id.
      expect(new Set(received.map((r) => r.headers['webhook-id'])).size).toBe(3);
    });

    it('only goes to endpoints subscribed to its type', async () => {
      h = await new WebhookHarness(database).start();
      const replies = await h.subscribe({ events: ['reply.sent'] });
      const requests = await h.subscribe({ events: ['request.created'] });
      await h.store.requests.upsertFromConcur([record('R1')], h.clock.iso());
      await h.worker.drain();
      expect((await h.deliveries(replies.webhook.id)).items).toEqual([]);
      const [only] = (await h.deliveries(requests.webhook.id)).items;
      expect(only).toMatchObject({ type: 'request.created', state: 'succeeded' });
      expect(h.receiver.received).toHaveLength(1);
    });

    it('is stored in the same transaction as the event: when that fails, neither exists', async () => {
      h = await new WebhookHarness(database).start();
      await h.subscribe();
      // Make the delivery insert fail; the request that would have caused it must not be saved either.
      for (const statement of NO_DELIVERIES[database.kind].refuse) await h.database.execute(statement);
      await expect(Promise.resolve().then(() => h.store.requests.upsertFromConcur([record('R1')], h.clock.iso()))).rejects.toThrow(/deliveries refused/);
      expect(await h.store.requests.get('R1')).toBeUndefined();
      await h.database.execute(NO_DELIVERIES[database.kind].allow);
      await h.store.requests.upsertFromConcur([record('R1')], h.clock.iso());
      expect(await h.store.requests.get('R1')).toBeDefined();
      expect(await h.store.deliveries.counts()).toEqual({ pending: 1, succeeded: 0, failed: 0 });
    });

    it('over 64 KiB is not sent: it is stored as failed, saying why, and cannot be resent', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      await h.store.requests.upsertFromConcur([record('BIG', { firstName: 'x'.repeat(70_000) })], h.clock.iso());
      await h.worker.drain();
      expect(h.receiver.received).toHaveLength(0);
      const [entry] = (await h.deliveries(webhook.id)).items;
      expect(entry).toMatchObject({
        type: 'request.created',
        state: 'failed',
        attempts: 0,
        nextAttemptAt: null,
        lastError: expect.stringMatching(/^the message is \d+ bytes, over the 64 KiB limit for webhook messages; it was not sent$/),
      });
      const resend = await h.api.post(`/api/v1/webhooks/${webhook.id}/deliveries/${entry!.id}/resend`, undefined);
      expect(resend.status).toBe(409);
      expect(errorOf(resend).code).toBe('delivery_too_large');
    });
  });

  describe('secret rotation', () => {
    it('signs with both secrets for 24 hours, then with the new one only', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook, secret: oldSecret } = await h.subscribe();
      const rotated = await h.api.post(`/api/v1/webhooks/${webhook.id}/rotate-secret`, undefined);
      const newSecret = (rotated.json as { secret: string }).secret;

      h.clock.advance(23 * HOUR);
      await h.sendTest(webhook.id);
      await h.worker.drain();
      const [during] = await h.receiver.waitFor(1);
      expect(during!.headers['webhook-signature']!.split(' ')).toHaveLength(2);
      expect(verifyAt(newSecret, during!, h.clock.ms)).toBeDefined();
      expect(verifyAt(oldSecret, during!, h.clock.ms)).toBeDefined();

      h.clock.advance(HOUR + S);
      await h.sendTest(webhook.id);
      await h.worker.drain();
      const [, after] = await h.receiver.waitFor(2);
      expect(after!.headers['webhook-signature']!.split(' ')).toHaveLength(1);
      expect(verifyAt(newSecret, after!, h.clock.ms)).toBeDefined();
      expect(() => verifyAt(oldSecret, after!, h.clock.ms)).toThrow(WebhookVerificationError);
    });
  });

  describe('retries', () => {
    it('follow the Svix schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, ±20 %) until the endpoint takes it', async () => {
      h = await new WebhookHarness(database).start({ worker: { random: seeded(42) } });
      const { webhook, secret } = await h.subscribe();
      h.receiver.reply(...Array.from({ length: 7 }, () => ({ status: 500, body: 'down' })));
      const queued = await h.sendTest(webhook.id);
      const start = h.clock.ms;
      await h.worker.drain();
      let entry = await h.delivery(webhook.id, queued.id);
      for (let i = 0; i < 7; i++) {
        expect(entry).toMatchObject({ state: 'pending', attempts: i + 1, lastStatus: 500 });
        entry = await h.runNext(webhook.id, queued.id);
      }
      expect(entry).toMatchObject({ state: 'succeeded', attempts: 8, lastStatus: 204, lastError: null, nextAttemptAt: null });

      const times = entry.attemptLog.map((a) => Date.parse(a.at));
      expect(times[0]).toBe(start);
      RETRY_SCHEDULE_MS.forEach((step, i) => {
        const waited = times[i + 1]! - times[i]!;
        expect(waited, `wait after attempt ${i + 1}`).toBeGreaterThanOrEqual(step * 0.8);
        expect(waited, `wait after attempt ${i + 1}`).toBeLessThanOrEqual(step * 1.2);
        // The log says when the next attempt was planned, and that is when it was made.
        expect(entry.attemptLog[i]!.nextAttemptAt).toBe(entry.attemptLog[i + 1]!.at);
      });
      // Jitter: not every wait is exactly the step.
      expect(RETRY_SCHEDULE_MS.some((step, i) => times[i + 1]! - times[i]! !== step)).toBe(true);

      // Every attempt carried the same webhook-id and body, freshly signed.
      const received = await h.receiver.waitFor(8);
      expect(new Set(received.map((r) => r.headers['webhook-id']))).toEqual(new Set([queued.messageId]));
      expect(new Set(received.map((r) => r.body)).size).toBe(1);
      expect(received.map((r) => Number(r.headers['webhook-timestamp']) * 1000)).toEqual(times.map((t) => Math.floor(t / 1000) * 1000));
      expect(verifyAt(secret, received[7]!, h.clock.ms)).toBeDefined();
    });

    it('give up after the schedule: the delivery fails, saying so, and the endpoint stays enabled', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      h.receiver.fallback = { status: 503 };
      const queued = await h.sendTest(webhook.id);
      await h.worker.drain();
      const entry = await h.runToEnd(webhook.id, queued.id);
      expect(entry).toMatchObject({
        state: 'failed',
        attempts: 8,
        lastStatus: 503,
        nextAttemptAt: null,
        lastError: 'gave up after 8 attempts; the last: the endpoint answered 503; only 2xx counts as delivered',
      });
      expect(entry.attemptLog.at(-1)!.nextAttemptAt).toBeNull();
      expect(Webhook.parse((await h.api.get(`/api/v1/webhooks/${webhook.id}`)).json).state).toBe('enabled');
    });

    it('treat a redirect as a failure and never follow it', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      h.receiver.reply({ status: 302, headers: { Location: `${h.receiver.url}/elsewhere?token=not-for-the-log` } });
      const queued = await h.sendTest(webhook.id);
      await h.worker.drain();
      const entry = await h.delivery(webhook.id, queued.id);
      expect(entry).toMatchObject({ state: 'pending', lastStatus: 302, nextAttemptAt: new Date(h.clock.ms + 5 * S).toISOString() });
      expect(entry.lastError).toMatch(/answered 302 \(a redirect to http:\/\/127\.0\.0\.1:\d+\/elsewhere\); redirects are not followed/);
      expect(h.receiver.received.map((r) => r.path)).toEqual(['/hooks/concur?token=receiver-side-token']);
      // Logs name the endpoint by its origin only: no path, no query, no token.
      expect(h.log.text()).not.toContain('not-for-the-log');
      expect(h.log.text()).not.toContain('receiver-side-token');
      expect(h.log.lines().find((line) => line.deliveryId === queued.id)).toMatchObject({ endpoint: h.receiver.url, httpStatus: 302 });
    });

    it('honour Retry-After on 429 and 503 within [step, 2 × step]', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      const waitAfter = async (reply: { status: number; headers?: Record<string, string> }) => {
        h.receiver.reply(reply);
        const queued = await h.sendTest(webhook.id);
        const at = h.clock.ms;
        await h.worker.drain();
        const entry = await h.delivery(webhook.id, queued.id);
        return Date.parse(entry.nextAttemptAt!) - at;
      };
      expect(await waitAfter({ status: 429, headers: { 'Retry-After': '7' } })).toBe(7 * S);
      expect(await waitAfter({ status: 429, headers: { 'Retry-After': '3600' } })).toBe(10 * S);
      expect(await waitAfter({ status: 503, headers: { 'Retry-After': '1' } })).toBe(5 * S);
      expect(await waitAfter({ status: 429 })).toBe(5 * S);
      const date = new Date(h.clock.ms + 8 * S).toUTCString();
      expect(await waitAfter({ status: 503, headers: { 'Retry-After': date } })).toBe(8 * S);
      // Only 429 and 503 are asked: a 500's Retry-After is not.
      expect(await waitAfter({ status: 500, headers: { 'Retry-After': '9' } })).toBe(5 * S);
    });

    it('count a time-out as a failure', async () => {
      h = await new WebhookHarness(database).start({ worker: { timeoutMs: 200 } });
      const { webhook } = await h.subscribe();
      h.receiver.reply('hang');
      const queued = await h.sendTest(webhook.id);
      await h.worker.drain();
      const entry = await h.delivery(webhook.id, queued.id);
      expect(entry).toMatchObject({ state: 'pending', attempts: 1, lastStatus: null, lastError: 'no answer within 200 ms (timed out)' });
      expect(entry.attemptLog[0]!.durationMs).toBeGreaterThanOrEqual(150);
      expect(entry.attemptLog[0]!.durationMs).toBeLessThan(2000);
      // The next attempt gets through.
      const next = await h.runNext(webhook.id, queued.id);
      expect(next).toMatchObject({ state: 'succeeded', attempts: 2 });
    });

    it('count a refused connection as a failure', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      await h.receiver.close();
      const queued = await h.sendTest(webhook.id);
      await h.worker.drain();
      expect(await h.delivery(webhook.id, queued.id)).toMatchObject({
        state: 'pending',
        lastStatus: null,
        lastError: 'the connection was refused (ECONNREFUSED)',
      });
    });
  });

  describe('disabling', () => {
    it('410 Gone disables the endpoint, visibly, and nothing more is sent to it', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      h.receiver.reply({ status: 410 });
      const first = await h.sendTest(webhook.id);
      await h.store.requests.upsertFromConcur([record('R1')], h.clock.iso());
      // One delivery per endpoint at a time: the 410 comes first and the second is still pending.
      await h.worker.drain();
      expect(h.receiver.received).toHaveLength(1);

      const shown = Webhook.parse((await h.api.get(`/api/v1/webhooks/${webhook.id}`)).json);
      expect(shown).toMatchObject({ state: 'disabled', disabledReason: expect.stringMatching(/^the endpoint answered 410 Gone at .*PATCH \{"state":"enabled"\}/) });
      const log = await h.deliveries(webhook.id);
      expect(log.items.find((d) => d.id === first.id)).toMatchObject({ state: 'failed', lastStatus: 410, lastError: expect.stringContaining('410 Gone') });
      expect(log.items.find((d) => d.type === 'request.created')).toMatchObject({
        state: 'failed',
        attempts: 0,
        lastError: expect.stringContaining('not sent: the webhook was disabled (the endpoint answered 410 Gone'),
      });

      await h.store.requests.upsertFromConcur([record('R2')], h.clock.advance(MIN));
      await h.worker.drain();
      expect((await h.deliveries(webhook.id)).items).toHaveLength(2);
      expect(h.receiver.received).toHaveLength(1);
      expect((await h.api.post(`/api/v1/webhooks/${webhook.id}/test`, undefined)).status).toBe(409);
    });

    it('an endpoint failing without a success for 5 days is disabled, saying since when', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      h.receiver.fallback = { status: 500 };
      const t0 = h.clock.iso();
      const first = await h.sendTest(webhook.id);
      await h.worker.drain();
      await h.runToEnd(webhook.id, first.id);
      // The whole schedule (about 32.5 hours) is far less than 5 days: still enabled.
      expect(Webhook.parse((await h.api.get(`/api/v1/webhooks/${webhook.id}`)).json).state).toBe('enabled');

      h.clock.ms = Date.parse(t0) + DISABLE_AFTER_MS - MIN;
      await h.sendTest(webhook.id);
      await h.worker.drain();
      expect(Webhook.parse((await h.api.get(`/api/v1/webhooks/${webhook.id}`)).json).state).toBe('enabled');

      h.clock.advance(2 * MIN);
      const last = await h.sendTest(webhook.id);
      await h.worker.drain();
      const shown = Webhook.parse((await h.api.get(`/api/v1/webhooks/${webhook.id}`)).json);
      expect(shown.state).toBe('disabled');
      expect(shown.disabledReason).toBe(
        `every attempt since ${t0} failed (5 days without a success); enable it again with PATCH {"state":"enabled"} once the endpoint works`,
      );
      expect(await h.delivery(webhook.id, last.id)).toMatchObject({ state: 'failed' });
    });

    it('a success in between starts the 5 days again', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      h.receiver.reply({ status: 500 }, { status: 200 }, { status: 500 });
      await h.sendTest(webhook.id);
      await h.worker.drain();
      h.clock.advance(3 * 24 * HOUR);
      await h.sendTest(webhook.id);
      await h.worker.drain();
      h.clock.advance(3 * 24 * HOUR);
      await h.sendTest(webhook.id);
      await h.worker.drain();
      expect(Webhook.parse((await h.api.get(`/api/v1/webhooks/${webhook.id}`)).json).state).toBe('enabled');
    });
  });

  describe('resend and recover', () => {
    it('resend sends one delivery again with the same webhook-id, as a new chain', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook, secret } = await h.subscribe();
      const queued = await h.sendTest(webhook.id);
      await h.worker.drain();
      expect((await h.api.post(`/api/v1/webhooks/${webhook.id}/deliveries/${queued.id}/resend`, undefined)).status).toBe(202);
      // Already on its way again: a second resend is refused until it is done.
      const twice = await h.api.post(`/api/v1/webhooks/${webhook.id}/deliveries/${queued.id}/resend`, undefined);
      expect(twice.status).toBe(409);
      expect(errorOf(twice).code).toBe('delivery_pending');

      h.clock.advance(HOUR);
      await h.worker.drain();
      const [first, again] = await h.receiver.waitFor(2);
      expect(again!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
      expect(again!.body).toBe(first!.body);
      expect(verifyAt(secret, again!, h.clock.ms)).toBeDefined();
      const entry = await h.delivery(webhook.id, queued.id);
      expect(entry).toMatchObject({ state: 'succeeded', attempts: 2 });
      expect(entry.attemptLog.map((a) => a.attempt)).toEqual([1, 2]);

      const unknown = await h.api.post(`/api/v1/webhooks/${webhook.id}/deliveries/dlv_unknown/resend`, undefined);
      expect(unknown.status).toBe(404);
    });

    it('resend of a failed delivery gets the whole schedule again', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      h.receiver.fallback = { status: 500 };
      const queued = await h.sendTest(webhook.id);
      await h.worker.drain();
      let entry = await h.runToEnd(webhook.id, queued.id);
      expect(entry.attempts).toBe(8);
      await h.api.post(`/api/v1/webhooks/${webhook.id}/deliveries/${queued.id}/resend`, undefined);
      await h.worker.drain();
      entry = await h.delivery(webhook.id, queued.id);
      expect(entry).toMatchObject({ state: 'pending', attempts: 9, nextAttemptAt: new Date(h.clock.ms + 5 * S).toISOString() });
      expect(entry.attemptLog.at(-1)).toMatchObject({ attempt: 9, status: 500 });
    });

    it('recover sends again every failed delivery created since the given time', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe({ events: ['request.created'] });
      // A: failed long ago, after its whole schedule.
      h.receiver.fallback = { status: 500 };
      await h.store.requests.upsertFromConcur([record('A')], h.clock.iso());
      await h.worker.drain();
      const [a] = (await h.deliveries(webhook.id)).items;
      const entry = await h.runToEnd(webhook.id, a!.id);
      expect(entry.state).toBe('failed');

      // B and C: failed because the endpoint was disabled while they waited.
      h.clock.advance(HOUR);
      const since = h.clock.iso();
      await h.store.requests.upsertFromConcur([record('B'), record('C')], h.clock.iso());
      const disable = await h.fetchPatch(webhook.id, { state: 'disabled' });
      expect(disable).toBe(200);
      const recoverWhileDisabled = await h.api.post(`/api/v1/webhooks/${webhook.id}/recover`, { since });
      expect(recoverWhileDisabled.status).toBe(409);
      expect(await h.fetchPatch(webhook.id, { state: 'enabled' })).toBe(200);

      h.receiver.fallback = { status: 200 };
      const recovered = await h.api.post(`/api/v1/webhooks/${webhook.id}/recover`, { since });
      expect(recovered.status).toBe(202);
      expect(recovered.json).toEqual({ requeued: 2 });
      await h.worker.drain();
      const byRequest = async () =>
        Object.fromEntries(
          (await h.deliveries(webhook.id)).items.map((d) => [d.id, d.state] as const),
        );
      const states = await byRequest();
      expect(states[a!.id]).toBe('failed');
      expect(Object.values(states).filter((s) => s === 'succeeded')).toHaveLength(2);
      const ids = h.receiver.received.slice(-2).map((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id);
      expect(ids.sort()).toEqual(['B', 'C']);

      // From further back, A comes too.
      const all = await h.api.post(`/api/v1/webhooks/${webhook.id}/recover`, { since: '2024-01-01T00:00:00Z' });
      expect(all.json).toEqual({ requeued: 1 });
      await h.worker.drain();
      expect((await byRequest())[a!.id]).toBe('succeeded');
    });
  });

  describe('the address check at delivery time', () => {
    it('refuses to connect to a private address without the setting, even for a webhook created with it', async () => {
      h = await new WebhookHarness(database).start({ allowPrivate: true });
      const { webhook } = await h.subscribe();
      const strict = h.newWorker({ allowPrivate: false });
      const queued = await h.sendTest(webhook.id);
      await strict.drain();
      expect(h.receiver.received).toHaveLength(0);
      expect(await h.delivery(webhook.id, queued.id)).toMatchObject({
        state: 'pending',
        lastStatus: null,
        lastError: expect.stringMatching(/^refused: 127\.0\.0\.1 is a loopback address/),
      });
    });

    it('checks the address a host name resolves to when connecting', async () => {
      h = await new WebhookHarness(database).start({ allowPrivate: true });
      const { webhook } = await h.subscribe({ url: `http://localhost:${h.receiver.port}/hook` });
      const strict = h.newWorker({ allowPrivate: false });
      const queued = await h.sendTest(webhook.id);
      await strict.drain();
      expect(h.receiver.received).toHaveLength(0);
      expect((await h.delivery(webhook.id, queued.id)).lastError).toMatch(/^refused: localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/);
    });
  });

  describe('host names', () => {
    it('are resolved for each connection by the resolver given (here: a name for the loopback receiver)', async () => {
      const resolve = async (host: string) => {
        if (host !== 'receiver.test') throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
        return [{ address: '127.0.0.1', family: 4 }];
      };
      h = await new WebhookHarness(database).start({ allowPrivate: true, resolve, worker: { resolve } });
      const { webhook, secret } = await h.subscribe({ url: `http://receiver.test:${h.receiver.port}/hook` });
      await h.sendTest(webhook.id);
      await h.worker.drain();
      const [received] = await h.receiver.waitFor(1);
      expect(received!.headers.host).toBe(`receiver.test:${h.receiver.port}`);
      expect(verifyAt(secret, received!, h.clock.ms)).toBeDefined();
    });
  });

  describe('deleting a webhook', () => {
    it('drops its pending deliveries: nothing more is sent', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      await h.sendTest(webhook.id);
      expect((await h.api.fetch(`/api/v1/webhooks/${webhook.id}`, { method: 'DELETE', headers: AUTH })).status).toBe(204);
      await h.worker.drain();
      expect(h.receiver.received).toHaveLength(0);
      expect(await h.store.deliveries.counts()).toEqual({ pending: 0, succeeded: 0, failed: 0 });
    });
  });

  describe('the running worker', () => {
    it('delivers on its own once started: new events wake it, and its timer brings what falls due later', async () => {
      h = await new WebhookHarness(database).start({ worker: { now: Date.now } });
      const { webhook } = await h.subscribe();
      h.worker.start();
      h.clock.ms = Date.now();
      await h.store.requests.upsertFromConcur([record('R1')], h.clock.iso());
      await h.receiver.waitFor(1, 10_000);
      // Stored as due a second from now (the store's clock runs ahead): only the timer can send it
      // (a second, not less: two loaded cores can stall the loop for a few hundred milliseconds).
      h.clock.ms = Date.now() + 1000;
      await h.store.requests.upsertFromConcur([record('R2')], h.clock.iso());
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(h.receiver.received).toHaveLength(1);
      await h.receiver.waitFor(2, 10_000);
      // The receiver has the message before the worker records the answer: stop waits for that.
      await h.worker.stop();
      expect(h.worker.inFlight).toBe(0);
      expect((await h.deliveries(webhook.id)).items.map((d) => d.state)).toEqual(['succeeded', 'succeeded']);
    });

    it('sends a delivery that falls due between its look at the store and its sleep at once, not after the 30 s idle check', async () => {
      h = await new WebhookHarness(database).start();
      const { webhook } = await h.subscribe();
      // The message is due at the store's clock; the worker looks a millisecond before that, and the
      // time moves past it while the look is answered (a loaded machine, or a timer firing early).
      const dueAt = h.clock.ms;
      await h.sendTest(webhook.id);
      let workerNow = dueAt - 1;
      const worker = h.newWorker({
        now: () => workerNow,
        store: {
          ...h.store,
          deliveries: {
            due: async (at, limit) => {
              const due = await h.store.deliveries.due(at, limit);
              workerNow = dueAt;
              return due;
            },
            nextDueAt: (after) => h.store.deliveries.nextDueAt(after),
            recordAttempt: (record) => h.store.deliveries.recordAttempt(record),
          },
        },
      });
      worker.start();
      await h.receiver.waitFor(1, 5000);
      await worker.stop();
      expect((await h.deliveries(webhook.id)).items.map((d) => d.state)).toEqual(['succeeded']);
    });

    it('with every slot taken it sleeps until an attempt ends, even when more has fallen due (no spinning)', async () => {
      h = await new WebhookHarness(database).start({ worker: { concurrency: 1, timeoutMs: 10_000 } });
      h.receiver.reply('hang');
      const start = h.clock.ms;
      const first = await h.subscribe();
      await h.sendTest(first.webhook.id);
      const second = await h.subscribe();
      h.clock.ms = start + 5 * S;
      await h.sendTest(second.webhook.id);
      h.clock.ms = start;
      h.worker.start();
      await h.receiver.waitFor(1);
      // The second message falls due while the only slot is held by the first.
      h.clock.ms = start + 6 * S;
      h.worker.kick();
      await vi.waitFor(() => expect(h.worker.nextWakeAt).not.toBeNull());
      expect(h.worker.nextWakeAt! - h.clock.ms).toBeGreaterThan(S);
      expect(h.worker.inFlight).toBe(1);
      await h.receiver.close();
    });

    it('stop waits for the attempt in flight and records it', async () => {
      h = await new WebhookHarness(database).start({ worker: { timeoutMs: 300 } });
      const { webhook } = await h.subscribe();
      h.receiver.reply('hang');
      const queued = await h.sendTest(webhook.id);
      h.worker.start();
      await h.receiver.waitFor(1);
      expect(h.worker.inFlight).toBe(1);
      await h.worker.stop();
      expect(h.worker.inFlight).toBe(0);
      expect(await h.delivery(webhook.id, queued.id)).toMatchObject({ attempts: 1, lastError: 'no answer within 300 ms (timed out)' });
    });
  });
});
