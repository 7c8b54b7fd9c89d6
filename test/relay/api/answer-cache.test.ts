import { afterEach, describe, expect, it } from 'vitest';
import { AnswerCache } from '../../../relay/api/answer-cache.js';
import { record, storePerTest, type StoreHarness } from '../store/helpers.js';
import type { Store } from '../../../relay/store/index.js';

/** Answers kept until the store may answer differently (relay/api/answer-cache.ts), over a real store. */

describe('AnswerCache', () => {
  let harness: StoreHarness;
  let store: Store;
  storePerTest((h, s) => ((harness = h), (store = s)));
  let release: (() => void) | undefined;
  afterEach(() => release?.());

  /** Counts the pending requests, as a page would list them; `builds` says how often it was read. */
  function pendingCounter() {
    const counter = { builds: 0, build: () => (counter.builds++, store.requests.counts().pending) };
    return counter;
  }

  it('keeps an answer until an event commits, then builds it again', async () => {
    const cache = new AnswerCache<number>(store.events);
    const pending = pendingCounter();
    expect(await cache.get('pending', pending.build)).toBe(0);
    expect(await cache.get('pending', pending.build)).toBe(0);
    expect(pending.builds).toBe(1);
    store.requests.upsertFromConcur([record('A')], harness.clock.iso());
    expect(await cache.get('pending', pending.build)).toBe(1);
    expect(pending.builds).toBe(2);
  });

  it('answers, but does not keep, what was read while an event committed (a store whose reads yield)', async () => {
    const cache = new AnswerCache<number>(store.events);
    const pending = pendingCounter();
    let started!: () => void;
    const building = new Promise<void>((resolve) => (started = resolve));
    const first = cache.get('pending', async () => {
      const read = pending.build();
      started();
      // The answer comes back later, as from a database behind a socket; something commits meanwhile.
      await new Promise<void>((resolve) => (release = resolve));
      return read;
    });
    await building;
    store.requests.upsertFromConcur([record('A')], harness.clock.iso());
    release!();
    expect(await first).toBe(0);
    // Not kept: the next caller sees the commit.
    expect(await cache.get('pending', pending.build)).toBe(1);
    expect(await cache.get('pending', pending.build)).toBe(1);
    expect(pending.builds).toBe(2);
  });
});
