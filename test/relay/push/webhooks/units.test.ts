import { afterEach, describe, expect, it } from 'vitest';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { openDatabase, closeDatabase } from '../../../../relay/store/db.js';
import { migrate, MIGRATIONS } from '../../../../relay/store/migrations.js';
import { webhookTypeOf, type StoredEvent } from '../../../../relay/store/index.js';
import { nextDelay, retryAfterMs, RETRY_SCHEDULE_MS, scheduledDelay } from '../../../../relay/push/webhooks/schedule.js';
import { sign, signatureHeader } from '../../../../relay/outbound/signature.js';
import { databasePerTest, DATABASES, type DatabaseHarness, type TestStore } from '../../store/databases.js';
import { record, StoreHarness, TESTER } from '../../store/helpers.js';

let harness: StoreHarness;
afterEach(() => harness?.cleanup());

describe('the retry schedule', () => {
  it('is Svix’s: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, with ±20 % jitter, then nothing', () => {
    expect(RETRY_SCHEDULE_MS).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    RETRY_SCHEDULE_MS.forEach((step, i) => {
      expect(scheduledDelay(i + 1, () => 0)).toBe(step * 0.8);
      expect(scheduledDelay(i + 1, () => 0.5)).toBe(step);
      expect(scheduledDelay(i + 1, () => 0.999999)).toBeCloseTo(step * 1.2, -2);
    });
    expect(scheduledDelay(8, () => 0.5)).toBeNull();
  });

  it('honours Retry-After (429, 503) only within [step, 2 × step]', () => {
    const mid = () => 0.5;
    expect(nextDelay(1, 429, 7_000, mid)).toBe(7_000);
    expect(nextDelay(1, 429, 1_000, mid)).toBe(5_000);
    expect(nextDelay(1, 503, 999_999, mid)).toBe(10_000);
    expect(nextDelay(2, 503, 9_000_000, mid)).toBe(600_000);
    expect(nextDelay(1, 500, 7_000, mid)).toBe(5_000);
    expect(nextDelay(8, 429, 7_000, mid)).toBeNull();
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2024-05-01T10:00:00Z');
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs('Wed, 01 May 2024 10:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Wed, 01 May 2024 09:00:00 GMT', now)).toBeUndefined();
    expect(retryAfterMs('0', now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});

describe('signing', () => {
  it('matches the standardwebhooks reference for one and for several secrets', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const other = 'whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkh';
    const at = new Date('2024-05-01T10:00:00Z');
    const body = '{"type":"webhook.test","timestamp":"2024-05-01T10:00:00.000Z","data":{"é":"ü"}}';
    expect(sign(secret, 'msg_abc', at.getTime() / 1000, body)).toBe(new StandardWebhook(secret).sign('msg_abc', at, body));
    expect(signatureHeader([secret, other], 'msg_abc', at.getTime() / 1000, body).split(' ')).toEqual([
      new StandardWebhook(secret).sign('msg_abc', at, body),
      new StandardWebhook(other).sign('msg_abc', at, body),
    ]);
    expect(() => sign(secret, 'msg.abc', 1, body)).toThrow(/must not contain "\."/);
  });
});

describe('which stored events become webhook messages', () => {
  const reply = (state: 'queued' | 'sent' | 'failed') =>
    ({ id: 1, type: 'reply.updated', createdAt: '', data: { requestId: 'R', reply: { status: 'CRSUC', state, attempts: 0, lastError: null, updatedAt: '' } } }) as StoredEvent;
  it.each([
    [{ id: 1, type: 'request.created', createdAt: '', data: {} } as StoredEvent, 'request.created'],
    [{ id: 1, type: 'request.updated', createdAt: '', data: {} } as StoredEvent, 'request.updated'],
    [reply('sent'), 'reply.sent'],
    [reply('failed'), 'reply.failed'],
    [reply('queued'), undefined],
    [{ id: 1, type: 'concur.state_changed', createdAt: '', data: {} } as StoredEvent, 'concur.state_changed'],
    [{ id: 1, type: 'summary', createdAt: '', data: {} } as StoredEvent, undefined],
  ])('%# %o', (event, type) => {
    expect(webhookTypeOf(event)).toBe(type);
  });
});

describe('the store on SQLite', () => {
  it('migrates a version-1 file to version 2, keeping its data', () => {
    harness = new StoreHarness();
    const db = openDatabase(harness.path);
    migrate(db, () => '2024-05-01T10:00:00.000Z', MIGRATIONS.slice(0, 1));
    closeDatabase(db);
    const store = harness.store();
    // Version 2 brought the webhook tables; later versions come along.
    expect(store.migration).toEqual({ from: 1, to: MIGRATIONS.length, applied: MIGRATIONS.slice(1).map((m) => m.version) });
    store.webhooks.create({ url: 'http://127.0.0.1:1/x', events: ['request.created'] }, TESTER);
    store.requests.upsertFromConcur([record('R1')], harness.clock.iso());
    expect(store.deliveries.counts()).toEqual({ pending: 1, succeeded: 0, failed: 0 });
  });
});

describe.each(DATABASES)('the store, for the worker ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));

  it('signs with the newest secret first, keeps at most 10 rotated ones, and drops expired ones', async () => {
    const { webhook, secret } = await store.webhooks.create({ url: 'http://127.0.0.1:1/x', events: ['request.created'] }, TESTER);
    expect(await store.webhooks.signingSecrets(webhook.id, harness.clock.ms)).toEqual([secret]);
    const rotated: string[] = [];
    for (let i = 0; i < 12; i++) rotated.push((await store.webhooks.rotateSecret(webhook.id, TESTER)).secret);
    const signing = await store.webhooks.signingSecrets(webhook.id, harness.clock.ms);
    expect(signing[0]).toBe(rotated.at(-1));
    expect(signing).toHaveLength(11);
    expect(signing).not.toContain(secret);
    expect(await store.webhooks.signingSecrets(webhook.id, harness.clock.ms + 24 * 3_600_000)).toEqual([rotated.at(-1)]);
  });

  it('forgets finished deliveries after the retention, never pending ones', async () => {
    await store.webhooks.create({ url: 'http://127.0.0.1:1/x', events: ['request.created'] }, TESTER);
    await store.requests.upsertFromConcur([record('R1'), record('R2')], harness.clock.iso());
    const [due] = await store.deliveries.due(harness.clock.ms, 10);
    await store.deliveries.recordAttempt({
      deliveryId: due!.id,
      chain: due!.chain,
      startedAt: harness.clock.ms,
      status: 200,
      durationMs: 3,
      responseBody: null,
      error: null,
      outcome: 'succeeded',
    });
    harness.clock.advance(31 * 24 * 3_600_000);
    expect(await store.deliveries.prune(harness.clock.ms - 30 * 24 * 3_600_000)).toBe(1);
    expect(await store.deliveries.counts()).toEqual({ pending: 1, succeeded: 0, failed: 0 });
  });

  it('hands the worker the oldest due delivery of each endpoint only', async () => {
    const a = (await store.webhooks.create({ url: 'http://127.0.0.1:1/a', events: ['request.created'] }, TESTER)).webhook;
    const b = (await store.webhooks.create({ url: 'http://127.0.0.1:1/b', events: ['request.created'] }, TESTER)).webhook;
    await store.requests.upsertFromConcur([record('R1'), record('R2'), record('R3')], harness.clock.iso());
    const due = await store.deliveries.due(harness.clock.ms, 10);
    expect(due.map((d) => d.webhookId).sort()).toEqual([a.id, b.id].sort());
    expect(new Set(due.map((d) => d.messageId)).size).toBe(1);
  });
});
