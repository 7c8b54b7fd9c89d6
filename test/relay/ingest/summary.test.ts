import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Summary } from '../../../shared/models.js';
import type { Store, StoredEvent } from '../../../relay/store/index.js';
import { watchSummary } from '../../../relay/ingest/summary.js';
import { record, StoreHarness } from '../store/helpers.js';
import { TESTER } from '../store/helpers.js';

/** Lets the watcher's microtask (and anything it triggers) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('watchSummary', () => {
  let harness: StoreHarness;
  let store: Store;
  let stop: () => void;
  let heard: StoredEvent[];
  const summaries = () => heard.filter((e) => e.type === 'summary');

  beforeEach(async () => {
    harness = new StoreHarness();
    store = harness.store();
    heard = [];
    store.events.subscribe((event) => heard.push(event));
    stop = await watchSummary(store);
  });
  afterEach(() => {
    stop();
    harness.cleanup();
  });

  it('stores a summary event when the counts change, once per burst', async () => {
    store.requests.upsertFromConcur([record('A'), record('B'), record('C', { status: 'CREU1' })], harness.clock.iso());
    await settle();
    expect(summaries()).toHaveLength(1);
    const [summary] = summaries();
    expect(Summary.parse(summary?.data).counts).toEqual({ pending: 2, failed: 1, connected: 0 });
    // It is a stored event, after the events that caused it, so replay includes it.
    expect(store.events.after(0, 100).map((e) => e.type)).toEqual([
      'request.created',
      'request.created',
      'request.created',
      'summary',
    ]);

    store.requests.upsertFromConcur([record('A', { status: 'CRSUC' })], harness.clock.advance(1000));
    await settle();
    expect(summaries()).toHaveLength(2);
    expect(Summary.parse(summaries()[1]?.data).counts).toEqual({ pending: 1, failed: 1, connected: 1 });
  });

  it('stays quiet on sweeps that change nothing it announces', async () => {
    store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
    await settle();
    expect(summaries()).toHaveLength(1);
    const before = store.events.latestId();

    // The same poll again: no event at all.
    store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.advance(1000));
    // A change inside the same group: request.updated, same counts.
    store.requests.upsertFromConcur([record('A', { firstName: 'Grace', status: 'Processing' })], harness.clock.advance(1000));
    // Poll bookkeeping only.
    store.state.updateConcurStatus({ lastPollAt: harness.clock.iso(), lastSuccessAt: harness.clock.iso() });
    // A queued reply changes no group.
    store.replies.enqueue('B', 'CRSUC', { actor: TESTER });
    await settle();

    expect(heard.filter((e) => e.id > before).map((e) => e.type)).toEqual(['request.updated', 'reply.updated']);
    expect(summaries()).toHaveLength(1);
  });

  it("announces Concur's state and last error", async () => {
    store.state.updateConcurStatus({ state: 'ok', lastError: null });
    await settle();
    expect(summaries().map((e) => (e.type === 'summary' ? e.data.concur.state : null))).toEqual(['ok']);

    store.state.updateConcurStatus({ state: 'degraded', lastError: 'malformed XML at line 3' });
    await settle();
    const last = summaries().at(-1);
    expect(last?.type === 'summary' && last.data.concur).toMatchObject({
      state: 'degraded',
      lastError: 'malformed XML at line 3',
    });
    expect(summaries()).toHaveLength(2);

    // A new error under the same state appends no event; it shows with the next one that does.
    store.state.updateConcurStatus({ lastError: 'timeout' });
    await settle();
    expect(summaries()).toHaveLength(2);
    store.requests.upsertFromConcur([record('Z', { status: 'Pending' })], harness.clock.iso());
    await settle();
    const next = summaries().at(-1);
    expect(next?.type === 'summary' && next.data.concur.lastError).toBe('timeout');
  });

  it('announces that the exchange became unavailable, with the reply whose exchange found it out', async () => {
    store.requests.upsertFromConcur([record('A')], harness.clock.iso());
    await settle();
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    store.replies.markExchanging(replyId, null);
    await settle();
    expect(summaries()).toHaveLength(1);

    const reason = "Concur refused the partner's client credentials";
    store.state.setExchangeStatus({ state: 'unavailable', reason });
    store.replies.markExchangeFailed(replyId, reason);
    await settle();
    expect(summaries()).toHaveLength(2);
    const last = summaries().at(-1);
    expect(last?.type === 'summary' && last.data.exchange).toEqual({ state: 'unavailable', reason });
  });

  it('never loops on its own summaries, nor reacts to summaries from elsewhere', async () => {
    store.requests.upsertFromConcur([record('A')], harness.clock.iso());
    await settle();
    await settle();
    const count = store.events.latestId();
    expect(summaries()).toHaveLength(1);

    store.events.append('summary', store.state.summary());
    await settle();
    await settle();
    expect(store.events.latestId()).toBe(count + 1);
    expect(summaries()).toHaveLength(2);
  });

  it('starts from the current summary and stops when unsubscribed', async () => {
    stop();
    store.requests.upsertFromConcur([record('A')], harness.clock.iso());
    await settle();
    expect(summaries()).toHaveLength(0);

    // A new watcher takes the present as known: nothing to announce yet.
    stop = await watchSummary(store);
    store.requests.upsertFromConcur([record('A', { lastName: 'Byron' })], harness.clock.advance(1000));
    await settle();
    expect(summaries()).toHaveLength(0);

    // A check already scheduled does nothing once stopped.
    store.requests.upsertFromConcur([record('B')], harness.clock.advance(1000));
    stop();
    await settle();
    expect(summaries()).toHaveLength(0);
  });

  it('announces at start what changed since the last summary in the log, and nothing when that is the present one', async () => {
    store.requests.upsertFromConcur([record('A')], harness.clock.iso());
    await settle();
    expect(summaries().map((e) => Summary.parse(e.data).counts.pending)).toEqual([1]);

    // The watching relay stops (a leader that dies) between a change and its announcement.
    stop();
    store.requests.upsertFromConcur([record('B')], harness.clock.advance(1000));
    await settle();
    expect(summaries()).toHaveLength(1);

    // The next watcher (the new leader, or the relay started again) announces it once.
    stop = await watchSummary(store);
    await settle();
    expect(summaries().map((e) => Summary.parse(e.data).counts.pending)).toEqual([1, 2]);

    // Started again with nothing new: the log already says what is true.
    stop();
    stop = await watchSummary(store);
    await settle();
    expect(summaries()).toHaveLength(2);
  });

  it('reports a failed check instead of throwing into the store', async () => {
    stop();
    const errors: unknown[] = [];
    stop = await watchSummary(store, { onError: (error) => errors.push(error) });
    store.requests.upsertFromConcur([record('A')], harness.clock.iso());
    harness.closeAll();
    await settle();
    expect(errors).toHaveLength(1);
  });
});
