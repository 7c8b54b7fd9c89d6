import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { ConnectionRequest, Summary, WebhookEventData, WebhookMessage } from '../../../../shared/models.js';
import { createOutbox, type Outbox } from '../../../../relay/replies/outbox.js';
import { createPoller, type Poller } from '../../../../relay/ingest/poller.js';
import type { RunningSandbox } from '../../../../relay/sandbox/server.js';
import { DEFAULT_EXCHANGE_FORM } from '../../../../relay/base/config-shape.js';
import { clientFor, exchangeFor, fault, fixedRandom, putDirect, sandboxPerFile, VERSIONS } from '../../helpers.js';
import { DATABASES } from '../../store/databases.js';
import { verifyAt, WebhookHarness } from './helpers.js';

/**
 * Webhook events caused by real polling of the sandbox (Concur) and real replies to it: the
 * store turns its own events into webhook messages in the same transactions. In API 3.0 and 3.2,
 * on both databases.
 */

const CASES = DATABASES.flatMap((database) => VERSIONS.map((v) => ({ ...v, database, on: database.name })));

let sb: RunningSandbox;
let h: WebhookHarness;
let poller: Poller;
let outbox: Outbox;

describe.each(CASES)('webhook events from Concur, API $version, on $on', (v) => {
  sandboxPerFile({ random: 11, version: v.version }, (reset) => (sb = reset));
  beforeEach(async () => {
    h = await new WebhookHarness(v.database).start({ apiVersion: v.version });
    const client = clientFor(sb, { version: v.version });
    poller = createPoller({ client, store: h.store, intervalMs: 60_000, logger: h.log.logger, metrics: h.api.metrics, now: h.clock.now });
    outbox = createOutbox({
      client,
      exchange: exchangeFor(sb, DEFAULT_EXCHANGE_FORM[v.version]),
      store: h.store,
      logger: h.log.logger,
      metrics: h.api.metrics,
      now: h.clock.now,
      random: fixedRandom(0.5),
    });
  });
  afterEach(async () => {
    await poller.stop();
    await outbox.stop();
    await h.stop();
  });

  it('request.created, concur.state_changed, reply.sent and reply.failed, signed, in the shared models, without request tokens', async () => {
    const { secret } = await h.subscribe();
    const [first, second] = [sb.state.add({ firstName: 'Ada' }), sb.state.add({ firstName: 'Grace' })];
    expect((await poller.sweepNow()).outcome).toBe('ok');
    await h.worker.drain();
    const afterPoll = h.receiver.received.map((r) => WebhookMessage.parse(JSON.parse(r.body)));
    // Created, each; 3.0's pending list handed both tokens out, so its processing list shows them
    // Processing in the same sweep: updated, each (3.2 reads one list).
    const updated = Array<string>(2 * (v.sweepLists.length - 1)).fill('request.updated');
    expect(afterPoll.map((m) => m.type).sort()).toEqual(['concur.state_changed', 'request.created', 'request.created', ...updated]);
    const state = afterPoll.find((m) => m.type === 'concur.state_changed')!;
    expect(Summary.parse(state.data)).toMatchObject({ counts: { pending: 2, failed: 0, connected: 0 }, concur: { state: 'ok' } });
    const created = afterPoll.filter((m) => m.type === 'request.created').map((m) => z.strictObject(ConnectionRequest.shape).parse(m.data));
    expect(created.map((r) => r.id).sort()).toEqual([first!.id, second!.id].sort());

    // A reply Concur takes: reply.sent (and the request moving: request.updated), asked for by Rita.
    const rita = await h.keyFor('replier', 'Rita');
    expect((await h.api.post(`/api/v1/requests/${first!.id}/reply`, { status: 'CRSUC' }, rita.auth)).status).toBe(202);
    // A reply Concur refuses (the request was connected behind the relay's back): reply.failed.
    expect(await putDirect(sb, second!.id, 'CRSUC', v.version)).toBe(204);
    expect((await h.api.post(`/api/v1/requests/${second!.id}/reply`, { status: 'CREU1' })).status).toBe(202);
    await outbox.drain();
    await h.worker.drain();

    const all = h.receiver.received.map((r) => WebhookMessage.parse(JSON.parse(r.body)));
    const sent = all.find((m) => m.type === 'reply.sent');
    expect(WebhookEventData['reply.sent'].parse(sent?.data)).toMatchObject({
      id: first!.id,
      status: 'CRSUC',
      group: 'connected',
      reply: { status: 'CRSUC', state: 'sent', attempts: 1, requestedBy: 'Rita' },
    });
    const failed = all.find((m) => m.type === 'reply.failed');
    expect(WebhookEventData['reply.failed'].parse(failed?.data)).toMatchObject({
      id: second!.id,
      reply: { status: 'CREU1', state: 'failed', lastError: expect.stringMatching(/^Concur answered 400/), requestedBy: 'env key 1' },
    });
    const moved = all.slice(afterPoll.length).filter((m) => m.type === 'request.updated' && (m.data as { id: string }).id === first!.id);
    expect(moved.length).toBeGreaterThan(0);
    for (const message of moved) expect(WebhookEventData['request.updated'].parse(message.data).reply?.requestedBy).toBe('Rita');

    for (const received of h.receiver.received) {
      expect(verifyAt(secret, received, h.clock.ms)).toBeDefined();
      for (const request of sb.state.all()) expect(received.body).not.toContain(request.requestToken);
      expect(received.body).not.toContain(sb.accessToken);
    }
  });

  it('concur.state_changed when Concur starts failing', async () => {
    await h.subscribe({ events: ['concur.state_changed'] });
    await poller.sweepNow();
    await fault(sb, { route: 'list', kind: 'status503', times: 1 });
    await poller.sweepNow();
    await h.worker.drain();
    const states = h.receiver.received.map((r) => Summary.parse(WebhookMessage.parse(JSON.parse(r.body)).data).concur.state);
    expect(states).toEqual(['ok', 'degraded']);
  });
});
