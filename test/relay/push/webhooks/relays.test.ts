import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createWebhookWorker, type WebhookWorker } from '../../../../relay/push/webhooks/delivery.js';
import { DatabaseHarness, type TestStore } from '../../store/databases.js';
import { record, TESTER } from '../../store/helpers.js';
import { captureLog } from '../../helpers.js';
import { Receiver } from './helpers.js';

/**
 * The webhook worker of several relays on one PostgreSQL database, against a real receiver on
 * loopback: each delivery is claimed by one relay (postgres/deliveries.ts), so every message
 * reaches each endpoint once, however the relays' passes interleave.
 */

describe('the webhook workers of two relays on one PostgreSQL database', () => {
  let harness: DatabaseHarness;
  const receiver = new Receiver();
  const log = captureLog();

  beforeEach(async () => {
    harness = new DatabaseHarness({ kind: 'postgres', name: 'PostgreSQL' });
    await receiver.start();
  });
  afterEach(async () => {
    await receiver.close();
    await harness.cleanup();
  });

  const worker = (store: TestStore): WebhookWorker =>
    createWebhookWorker({ store, logger: log.logger, now: harness.clock.now, random: () => 0.5, allowPrivate: true, timeoutMs: 2000, concurrency: 1 });

  it('POSTs each message to each endpoint once, the two relays sending at the same time', async () => {
    const relays = [await harness.store(), await harness.store()];
    const endpoints = 3;
    for (let i = 0; i < endpoints; i++) {
      await relays[0]!.webhooks.create({ url: `${receiver.url}/hook/${i}`, events: ['request.created'] }, TESTER);
    }
    const requests = ['A', 'B', 'C', 'D', 'E'];
    await relays[0]!.requests.upsertFromConcur(requests.map((id) => record(id)), harness.clock.iso());

    // Both drain at once, twice over: the second pass sends what one relay held while the other finished.
    const workers = relays.map(worker);
    await Promise.all(workers.map((w) => w.drain()));
    await Promise.all(workers.map((w) => w.drain()));

    const sent = receiver.received.map((message) => `${message.path} ${message.headers['webhook-id']}`);
    expect(sent.length).toBe(endpoints * requests.length);
    expect(new Set(sent).size).toBe(sent.length);
    const bodies = receiver.received.map((message) => (JSON.parse(message.body) as { data: { id: string } }).data.id);
    for (const id of requests) expect(bodies.filter((body) => body === id).length).toBe(endpoints);
    expect(await relays[1]!.deliveries.counts()).toEqual({ pending: 0, succeeded: endpoints * requests.length, failed: 0 });
  });
});
