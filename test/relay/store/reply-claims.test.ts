import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_REPLY_LEASE_MS, ReplyClaimedError, ReplyInFlightError } from '../../../relay/store/index.js';
import { DATABASES, DatabaseHarness, type TestStore } from './databases.js';
import { record, TESTER } from './helpers.js';

/**
 * Several relays on one database share one outbox (issue 18): each reply is worked on by one relay
 * at a time. Each store here is a relay of its own (its own connection or pool, its own name);
 * SQLite has one relay in production, but its store keeps the same promises.
 */
describe.each(DATABASES)('relays sharing the outbox ($name)', (database) => {
  let harness: DatabaseHarness;
  let a: TestStore;
  let b: TestStore;
  beforeEach(async () => {
    harness = new DatabaseHarness(database);
    a = await harness.store({ relayId: 'relay-a' });
    b = await harness.store({ relayId: 'relay-b' });
  });
  afterEach(() => harness.cleanup());

  /** Requests R1…Rn, each with a queued reply; their ids. */
  async function queued(n: number, from = 1): Promise<number[]> {
    const ids = Array.from({ length: n }, (_, i) => `R${from + i}`);
    await a.requests.upsertFromConcur(ids.map((id) => record(id)), harness.clock.iso());
    const replyIds: number[] = [];
    for (const id of ids) replyIds.push((await a.replies.enqueue(id, 'CREU1', { actor: TESTER })).replyId);
    return replyIds;
  }

  it('three relays asking at the same moment are handed disjoint replies, together all of them', async () => {
    const c = await harness.store({ relayId: 'relay-c' });
    for (let round = 0; round < 3; round++) {
      const replyIds = await queued(30, 1 + round * 30);
      const handed = await Promise.all([a, b, c].map(async (relay) => (await relay.replies.due(harness.clock.iso(), 10)).map((r) => r.id)));
      expect(handed.map((ids) => ids.length)).toEqual([10, 10, 10]);
      expect(handed.flat().sort((x, y) => x - y)).toEqual(replyIds);
      // While the claims last each relay is handed its own again (it may ask again before it is done), never another's.
      const again = await Promise.all([a, b, c].map(async (relay) => (await relay.replies.due(harness.clock.iso(), 30)).map((r) => r.id)));
      expect(again).toEqual(handed);
      for (const id of handed.flat()) await a.replies.markFailed(id, 'done with this round');
    }
  });

  it('a relay that dies holding a reply keeps it from the others only until its lease ends; the next one finds the attempt in doubt', async () => {
    const [replyId] = await queued(1);
    expect((await a.replies.due(harness.clock.iso(), 10)).map((r) => r.id)).toEqual([replyId]);
    const started = await a.replies.markAttemptStarted(replyId!);
    const leaseEnds = new Date(harness.clock.ms + DEFAULT_REPLY_LEASE_MS).toISOString();
    // A dies here, its PUT possibly on its way.
    await a.close();

    expect(await b.replies.due(harness.clock.iso(), 10)).toEqual([]);
    expect(await b.replies.nextDueAt()).toBe(leaseEnds);
    await expect(Promise.resolve().then(() => b.replies.markAttemptStarted(replyId!))).rejects.toThrow(ReplyClaimedError);
    harness.clock.advance(DEFAULT_REPLY_LEASE_MS - 1);
    expect(await b.replies.due(harness.clock.iso(), 10)).toEqual([]);

    harness.clock.advance(1);
    const [taken] = await b.replies.due(harness.clock.iso(), 10);
    // What the outbox reads back from Concur before anything is PUT again.
    expect(taken).toMatchObject({ id: replyId, state: 'queued', inDoubt: started.inDoubt });
    expect((await b.replies.markAttemptStarted(replyId!)).inDoubt?.startedAt).toBe(harness.clock.iso());
  });

  it('a relay whose lease has lapsed cannot start a PUT or an exchange once another relay holds the reply', async () => {
    const [put, exchange] = await queued(2);
    await a.replies.due(harness.clock.iso(), 10);
    harness.clock.advance(DEFAULT_REPLY_LEASE_MS);
    expect((await b.replies.due(harness.clock.iso(), 10)).map((r) => r.id)).toEqual([put, exchange]);
    await expect(Promise.resolve().then(() => a.replies.markAttemptStarted(put!))).rejects.toThrow(ReplyClaimedError);
    await expect(Promise.resolve().then(() => a.replies.markExchanging(exchange!, null))).rejects.toThrow(ReplyClaimedError);
    // Nothing of the refused steps was written: the replies are as b was handed them.
    expect(await b.replies.get(put!)).not.toHaveProperty('inDoubt');
    expect(await b.replies.get(exchange!)).toMatchObject({ state: 'queued' });
    expect(await b.replies.markExchanging(exchange!, null)).toMatchObject({ state: 'exchanging' });
  });

  it('an outcome frees the reply at once: a retry is due to any relay at its time, not after the lease', async () => {
    const [replyId] = await queued(1);
    await a.replies.due(harness.clock.iso(), 10);
    await a.replies.markAttemptStarted(replyId!);
    const next = harness.clock.advance(0);
    await a.replies.markAttempt(replyId!, { attempts: 1, nextAttemptAt: next, lastError: 'Concur answered 503' });
    expect(await b.replies.nextDueAt()).toBe(next);
    expect((await b.replies.due(next, 10)).map((r) => r.id)).toEqual([replyId]);
  });

  it('two relays queueing a reply for one request at once: one is queued, the other refused', async () => {
    await a.requests.upsertFromConcur([record('R1')], harness.clock.iso());
    const results = await Promise.allSettled([a, b].map(async (relay) => relay.replies.enqueue('R1', 'CREU1', { actor: TESTER })));
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected');
    expect(refused?.status === 'rejected' && refused.reason).toBeInstanceOf(ReplyInFlightError);
    expect(await a.replies.counts()).toMatchObject({ queued: 1 });
  });
});
