import { describe, expect, it } from 'vitest';
import { DELIVERY_LEASE_MS } from '../../../relay/store/reply-claims.js';
import type { AttemptOutcome, AttemptRecord, StoreParts } from '../../../relay/store/index.js';
import type { PgStore } from '../../../relay/store/postgres/index.js';
import { DATABASES, databasePerTest, settled, type DatabaseHarness, type TestStore } from './databases.js';
import { record, TESTER } from './helpers.js';

/** Webhook deliveries in the store: the fan-out of events, what is due, attempts, resends; on PostgreSQL, claims by several relays. */

// Checked by the compiler: the PostgreSQL store is a StoreParts, as the SQLite one is.
const asParts = (store: PgStore): StoreParts => store;
void asParts;

async function webhook(store: TestStore, events: Parameters<TestStore['webhooks']['create']>[0]['events'] = ['request.created']): Promise<string> {
  return (await store.webhooks.create({ url: 'https://hooks.example/in', events }, TESTER)).webhook.id;
}

/** An attempt at `deliveryId` made at `startedAt`: answered 200 when it succeeded, else 500 unless told. */
function attempt(deliveryId: string, chain: number, outcome: AttemptOutcome, startedAt: number, more: Partial<AttemptRecord> = {}): AttemptRecord {
  const ok = outcome === 'succeeded';
  return { deliveryId, chain, startedAt, status: ok ? 200 : 500, durationMs: 1, responseBody: null, error: ok ? null : 'HTTP 500', outcome, ...more };
}

describe.each(DATABASES)('deliveries in the store ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));

  it('fans a stored event out to each subscriber, in its own transaction, with one message id', async () => {
    const [a, b] = [await webhook(store), await webhook(store)];
    const other = await webhook(store, ['reply.sent']);
    await store.requests.upsertFromConcur([record('A')], harness.clock.iso());
    await settled(store);
    const due = await store.deliveries.due(harness.clock.ms, 10);
    expect(due.map((d) => d.webhookId).sort()).toEqual([a, b].sort());
    expect(new Set(due.map((d) => d.messageId)).size).toBe(1);
    expect(JSON.parse(due[0]!.body)).toMatchObject({ type: 'request.created', data: { id: 'A' } });
    expect((await store.deliveries.list(other, { limit: 10 })).items).toEqual([]);
  });

  it('fans a poll of several requests out at once: a delivery per event and subscriber, a message per event, in the poll’s order', async () => {
    await store.requests.upsertFromConcur([record('A')], harness.clock.iso());
    const both = await webhook(store, ['request.created', 'request.updated']);
    const updates = await webhook(store, ['request.updated']);
    await store.requests.upsertFromConcur([record('B'), record('A', { firstName: 'Changed' }), record('C')], harness.clock.advance(1000));
    await settled(store);
    const toBoth = (await store.deliveries.list(both, { limit: 10 })).items.reverse();
    expect(toBoth.map((d) => d.type)).toEqual(['request.created', 'request.updated', 'request.created']);
    expect(new Set(toBoth.map((d) => d.messageId)).size).toBe(3);
    const toUpdates = (await store.deliveries.list(updates, { limit: 10 })).items;
    expect(toUpdates.map((d) => [d.type, d.messageId])).toEqual([['request.updated', toBoth[1]?.messageId]]);
    const [due] = (await store.deliveries.due(harness.clock.ms, 10)).filter((d) => d.webhookId === updates);
    expect(JSON.parse(due!.body)).toMatchObject({ type: 'request.updated', data: { id: 'A', firstName: 'Changed' } });
  });

  it('records attempts: a retry waits until its time, a success ends the delivery and shows in the log', async () => {
    const id = await webhook(store);
    const queued = await store.deliveries.enqueueTest(id);
    const [first] = await store.deliveries.due(harness.clock.ms, 10);
    expect(first).toMatchObject({ id: queued.id, type: 'webhook.test', chain: 1, chainAttempts: 0 });
    const later = harness.clock.ms + 5000;
    const retried = await store.deliveries.recordAttempt(attempt(queued.id, 1, 'retry', harness.clock.ms, { nextAttemptAt: later }));
    expect(retried).toMatchObject({ delivery: { state: 'pending', attempts: 1, lastError: 'HTTP 500' }, failingSince: harness.clock.iso() });
    expect(await store.deliveries.due(harness.clock.ms, 10)).toEqual([]);
    expect(await store.deliveries.nextDueAt(harness.clock.ms)).toBe(new Date(later).toISOString());
    harness.clock.advance(5000);
    expect((await store.deliveries.due(harness.clock.ms, 10)).map((d) => [d.id, d.chainAttempts])).toEqual([[queued.id, 1]]);
    const done = await store.deliveries.recordAttempt(attempt(queued.id, 1, 'succeeded', harness.clock.ms));
    expect(done).toMatchObject({ delivery: { state: 'succeeded', attempts: 2, lastStatus: 200, lastError: null }, failingSince: null });
    const entry = await store.deliveries.get(id, queued.id);
    expect(entry?.attemptLog.map((a) => [a.attempt, a.status])).toEqual([[1, 500], [2, 200]]);
    expect(await store.deliveries.counts()).toEqual({ pending: 0, succeeded: 1, failed: 0 });
  });

  it('resends a finished delivery, recovers failed ones, fails pending ones when the webhook is disabled, prunes old ones', async () => {
    const id = await webhook(store);
    const one = await store.deliveries.enqueueTest(id);
    await expect(Promise.resolve().then(() => store.deliveries.resend(id, one.id))).rejects.toThrow(/pending/i);
    await store.deliveries.recordAttempt(attempt(one.id, 1, 'failed', harness.clock.ms, { status: 410, error: 'gone' }));
    expect(await store.deliveries.resend(id, one.id)).toMatchObject({ state: 'pending', attempts: 1 });
    const [again] = await store.deliveries.due(harness.clock.ms, 10);
    expect(again).toMatchObject({ id: one.id, chain: 2 });
    await store.webhooks.disable(id, 'the endpoint answered 410 Gone');
    expect(await store.deliveries.get(id, one.id)).toMatchObject({ state: 'failed', lastError: 'not sent: the webhook was disabled (the endpoint answered 410 Gone)' });
    await expect(Promise.resolve().then(() => store.deliveries.enqueueTest(id))).rejects.toThrow(/disabled/i);
    await store.webhooks.update(id, { state: 'enabled' }, TESTER);
    expect(await store.deliveries.recover(id, 0)).toBe(1);
    expect(await store.deliveries.counts()).toEqual({ pending: 1, succeeded: 0, failed: 0 });
    await store.deliveries.recordAttempt(attempt(one.id, 3, 'succeeded', harness.clock.ms));
    harness.clock.advance(1000);
    expect(await store.deliveries.prune(harness.clock.ms)).toBe(1);
    expect((await store.deliveries.list(id, { limit: 10 })).items).toEqual([]);
  });

  it('hands out one delivery per endpoint at a time, the oldest, and pages the log newest first', async () => {
    const id = await webhook(store);
    const first = await store.deliveries.enqueueTest(id);
    const second = await store.deliveries.enqueueTest(id);
    expect((await store.deliveries.due(harness.clock.ms, 10)).map((d) => d.id)).toEqual([first.id]);
    const page = await store.deliveries.list(id, { limit: 1 });
    expect(page.items.map((d) => d.id)).toEqual([second.id]);
    expect((await store.deliveries.list(id, { limit: 1, cursor: page.nextCursor! })).items.map((d) => d.id)).toEqual([first.id]);
  });
});

describe('deliveries claimed by several relays on one PostgreSQL database', () => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest({ kind: 'postgres', name: 'PostgreSQL' }, (h, s) => ((harness = h), (store = s)));

  it('gives relays asking at the same moment disjoint deliveries, together every one that is due', async () => {
    const relays = [store, await harness.store(), await harness.store()];
    const queued: string[] = [];
    for (let i = 0; i < 9; i++) queued.push((await store.deliveries.enqueueTest(await webhook(store))).id);
    const handed = await Promise.all(relays.map((relay) => relay.deliveries.due(harness.clock.ms, 9)));
    const ids = handed.flat().map((d) => d.id);
    expect(ids.length).toBe(new Set(ids).size);
    expect([...ids].sort()).toEqual([...queued].sort());
    // Asked again, each relay finds only what it holds itself.
    const again = await Promise.all(relays.map((relay) => relay.deliveries.due(harness.clock.ms, 9)));
    expect(again.map((batch) => batch.map((d) => d.id).sort())).toEqual(handed.map((batch) => batch.map((d) => d.id).sort()));
  });

  it('keeps an endpoint to the relay sending to it; a lapsed claim is taken over, and a recorded attempt frees the endpoint', async () => {
    const [a, b] = [store, await harness.store()];
    const id = await webhook(a);
    const first = await a.deliveries.enqueueTest(id);
    const second = await a.deliveries.enqueueTest(id);
    expect((await a.deliveries.due(harness.clock.ms, 10)).map((d) => d.id)).toEqual([first.id]);
    expect(await b.deliveries.due(harness.clock.ms, 10)).toEqual([]);
    // B sleeps until A's lease would end.
    expect(await b.deliveries.nextDueAt(harness.clock.ms)).toBe(new Date(harness.clock.ms + DELIVERY_LEASE_MS).toISOString());
    harness.clock.advance(DELIVERY_LEASE_MS);
    expect((await b.deliveries.due(harness.clock.ms, 10)).map((d) => d.id)).toEqual([first.id]);
    expect(await a.deliveries.due(harness.clock.ms, 10)).toEqual([]);
    await b.deliveries.recordAttempt(attempt(first.id, 1, 'succeeded', harness.clock.ms));
    expect((await a.deliveries.due(harness.clock.ms, 10)).map((d) => d.id)).toEqual([second.id]);
  });

  it('gives back, when a relay closes, the deliveries it claimed and never sent: another relay sends them without waiting out the lease', async () => {
    const a = await harness.store();
    const b = store;
    const ids = [await webhook(b), await webhook(b)];
    const queued = await Promise.all(ids.map((id) => b.deliveries.enqueueTest(id)));
    expect((await a.deliveries.due(harness.clock.ms, 10)).map((d) => d.id).sort()).toEqual(queued.map((d) => d.id).sort());
    expect(await b.deliveries.due(harness.clock.ms, 10)).toEqual([]);
    await a.close();
    expect((await b.deliveries.due(harness.clock.ms, 10)).map((d) => d.id).sort()).toEqual(queued.map((d) => d.id).sort());
  });

  it('records an attempt while another relay disables the webhook: both commit, and nothing is left to send', async () => {
    const [a, b] = [store, await harness.store()];
    const ids = [await webhook(a), await webhook(a), await webhook(a), await webhook(a)];
    const queued = await Promise.all(ids.map((id) => a.deliveries.enqueueTest(id)));
    await a.deliveries.due(harness.clock.ms, 10);
    const retryAt = harness.clock.ms + 1000;
    await Promise.all(
      ids.flatMap((id, i) => [
        a.deliveries.recordAttempt(attempt(queued[i]!.id, 1, 'retry', harness.clock.ms, { nextAttemptAt: retryAt })),
        b.webhooks.update(id, { state: 'disabled' }, TESTER),
      ]),
    );
    expect(await b.deliveries.counts()).toEqual({ pending: 0, succeeded: 0, failed: ids.length });
    harness.clock.advance(1000);
    expect(await b.deliveries.due(harness.clock.ms, 10)).toEqual([]);
  });
});
