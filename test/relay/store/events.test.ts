import { describe, expect, it } from 'vitest';
import { openStore, type StoredEvent, type Store } from '../../../relay/store/index.js';
import { record, storePerTest, type StoreHarness } from './helpers.js';
import { TEST_VAULT } from '../../helpers/vault.js';

describe('the event log', () => {
  let harness: StoreHarness;
  let store: Store;
  storePerTest((h, s) => ((harness = h), (store = s)));

  it('starts empty', () => {
    expect(store.events.latestId()).toBe(0);
    expect(store.events.oldestId()).toBeNull();
    expect(store.events.after(0, 10)).toEqual([]);
  });

  it('gives strictly increasing ids, also across restarts and after pruning everything', () => {
    const ids: number[] = [];
    const summary = () => store.state.summary();
    for (let round = 0; round < 3; round += 1) {
      for (let i = 0; i < 4; i += 1) ids.push(store.events.append('summary', summary()).id);
      store.requests.upsertFromConcur([record(`R${round}`)], harness.clock.advance(1000));
      ids.push(store.events.latestId());
      if (round === 1) expect(store.events.prune(0)).toBeGreaterThan(0);
      store = harness.reopen();
    }
    for (let i = 1; i < ids.length; i += 1) expect(ids[i]).toBeGreaterThan(ids[i - 1] ?? 0);
  });

  it('replays what a client missed: events.after(id, limit) in id order', () => {
    const appended = Array.from({ length: 5 }, () => store.events.append('summary', store.state.summary()));
    const second = appended[1]?.id ?? 0;
    expect(store.events.after(second, 2).map((e) => e.id)).toEqual(appended.slice(2, 4).map((e) => e.id));
    expect(store.events.after(second, 100)).toEqual(appended.slice(2));
    expect(store.events.latestId()).toBe(appended[4]?.id);
  });

  it('keeps only the newest events when pruned', () => {
    const appended = Array.from({ length: 12 }, () => store.events.append('summary', store.state.summary()).id);
    expect(store.events.prune(5)).toBe(7);
    expect(store.events.after(0, 100).map((e) => e.id)).toEqual(appended.slice(7));
    expect(store.events.oldestId()).toBe(appended[7]);
    expect(store.events.prune(5)).toBe(0);
    expect(store.events.prune(50)).toBe(0);
    expect(store.events.prune()).toBe(0);
  });

  it('tells listeners after the transaction commits, in order, and never about a rolled-back write', () => {
    const heard: StoredEvent[] = [];
    let eventsVisibleWhenHeard = true;
    const unsubscribe = store.events.subscribe((event) => {
      heard.push(event);
      // The listener can already read what the event describes.
      eventsVisibleWhenHeard &&= store.events.after(event.id - 1, 1)[0]?.id === event.id;
    });

    store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
    expect(heard.map((e) => [e.type, e.type === 'request.created' ? e.data.id : null])).toEqual([
      ['request.created', 'A'],
      ['request.created', 'B'],
    ]);
    expect(eventsVisibleWhenHeard).toBe(true);

    expect(() =>
      store.requests.upsertFromConcur([record('C'), record('D', { lastModified: 'garbage' })], harness.clock.iso()),
    ).toThrow();
    expect(heard).toHaveLength(2);

    unsubscribe();
    store.events.append('summary', store.state.summary());
    expect(heard).toHaveLength(2);
  });

  it('keeps going when a listener throws', () => {
    const errors: unknown[] = [];
    harness.closeAll();
    store = openStore(harness.path, { vault: TEST_VAULT, clock: harness.clock.now, onListenerError: (e: unknown) => errors.push(e) });
    const heard: number[] = [];
    store.events.subscribe(() => {
      throw new Error('listener bug');
    });
    store.events.subscribe((event) => heard.push(event.id));
    const event = store.events.append('summary', store.state.summary());
    expect(heard).toEqual([event.id]);
    expect(errors).toHaveLength(1);
    store.close();
  });
});
