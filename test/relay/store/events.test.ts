import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../../relay/store/index.js';
import { record } from './helpers.js';
import { DATABASES, databasePerTest, settled, type DatabaseHarness, type TestStore } from './databases.js';

describe.each(DATABASES)('the event log ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));

  const appendSummary = async (): Promise<StoredEvent> => store.events.append('summary', await store.state.summary());

  it('starts empty', async () => {
    expect(await store.events.latestId()).toBe(0);
    expect(await store.events.oldestId()).toBeNull();
    expect(await store.events.after(0, 10)).toEqual([]);
  });

  it('gives strictly increasing ids, also across restarts and after pruning everything', async () => {
    const ids: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      for (let i = 0; i < 4; i += 1) ids.push((await appendSummary()).id);
      await store.requests.upsertFromConcur([record(`R${round}`)], harness.clock.advance(1000));
      ids.push(await store.events.latestId());
      if (round === 1) expect(await store.events.prune(0)).toBeGreaterThan(0);
      store = await harness.reopen();
    }
    for (let i = 1; i < ids.length; i += 1) expect(ids[i]).toBeGreaterThan(ids[i - 1] ?? 0);
  });

  it('replays what a client missed: events.after(id, limit) in id order', async () => {
    const appended: StoredEvent[] = [];
    for (let i = 0; i < 5; i += 1) appended.push(await appendSummary());
    const second = appended[1]?.id ?? 0;
    expect((await store.events.after(second, 2)).map((e) => e.id)).toEqual(appended.slice(2, 4).map((e) => e.id));
    expect(await store.events.after(second, 100)).toEqual(appended.slice(2));
    expect(await store.events.latestId()).toBe(appended[4]?.id);
  });

  it('finds the newest event of a type: lastOf', async () => {
    expect(await store.events.lastOf('summary')).toBeUndefined();
    const first = await appendSummary();
    await store.requests.upsertFromConcur([record('A')], harness.clock.advance(1000));
    expect(await store.events.lastOf('summary')).toEqual(first);
    const second = await appendSummary();
    expect(await store.events.lastOf('summary')).toEqual(second);
    expect((await store.events.lastOf('request.created'))?.id).toBe(first.id + 1);
    expect(await store.events.lastOf('reply.updated')).toBeUndefined();
  });

  it('keeps only the newest events when pruned', async () => {
    const appended: number[] = [];
    for (let i = 0; i < 12; i += 1) appended.push((await appendSummary()).id);
    expect(await store.events.prune(5)).toBe(7);
    expect((await store.events.after(0, 100)).map((e) => e.id)).toEqual(appended.slice(7));
    expect(await store.events.oldestId()).toBe(appended[7]);
    expect(await store.events.prune(5)).toBe(0);
    expect(await store.events.prune(50)).toBe(0);
    expect(await store.events.prune()).toBe(0);
  });

  it('tells listeners after the transaction commits, in order, and never about a rolled-back write', async () => {
    const heard: StoredEvent[] = [];
    const visible: Array<Promise<boolean>> = [];
    const unsubscribe = store.events.subscribe((event) => {
      heard.push(event);
      // The listener can already read what the event describes.
      visible.push(Promise.resolve(store.events.after(event.id - 1, 1)).then((read) => read[0]?.id === event.id));
    });

    await store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
    await settled(store);
    expect(heard.map((e) => [e.type, e.type === 'request.created' ? e.data.id : null])).toEqual([
      ['request.created', 'A'],
      ['request.created', 'B'],
    ]);
    expect(await Promise.all(visible)).toEqual([true, true]);

    await expect(
      Promise.resolve().then(() => store.requests.upsertFromConcur([record('C'), record('D', { lastModified: 'garbage' })], harness.clock.iso())),
    ).rejects.toThrow();
    await settled(store);
    expect(heard).toHaveLength(2);

    unsubscribe();
    await appendSummary();
    await settled(store);
    expect(heard).toHaveLength(2);
  });

  it('runs onAppend listeners inside the appending transaction: one that throws rolls the event back, unheard', async () => {
    const heard: number[] = [];
    store.events.subscribe((event) => heard.push(event.id));
    const kept = await appendSummary();
    let refuse = true;
    store.events.onAppend((event) => {
      if (refuse && event.type === 'concur.state_changed') throw new Error('fan-out failed');
    });
    const status = { state: 'ok', lastPollAt: null, lastSuccessAt: null, lastError: null } as const;
    await expect(Promise.resolve().then(() => store.events.append('concur.state_changed', status))).rejects.toThrow('fan-out failed');
    refuse = false;
    const next = await store.events.append('concur.state_changed', status);
    await settled(store);
    expect((await store.events.after(0, 10)).map((e) => e.id)).toEqual([kept.id, next.id]);
    expect(heard).toEqual([kept.id, next.id]);
  });

  it('appends a list of events at once: ids in the order given, stored, heard together inside the transaction and each after it', async () => {
    const before = await appendSummary();
    const batches: number[][] = [];
    const one: number[] = [];
    store.events.onAppendAll((events) => void batches.push(events.map((e) => e.id)));
    store.events.onAppend((event) => void one.push(event.id));
    const heard: StoredEvent[] = [];
    store.events.subscribe((event) => heard.push(event));
    const summary = await store.state.summary();
    const status = { state: 'ok', lastPollAt: null, lastSuccessAt: null, lastError: null } as const;
    const appended = await store.events.appendAll([
      { type: 'concur.state_changed', data: status },
      { type: 'summary', data: summary },
      { type: 'concur.state_changed', data: { ...status, state: 'degraded' } },
    ]);
    await settled(store);
    const ids = appended.map((e) => e.id);
    expect(ids[0]).toBeGreaterThan(before.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
    expect(await store.events.after(before.id, 10)).toEqual(appended);
    expect(appended.map((e) => e.type)).toEqual(['concur.state_changed', 'summary', 'concur.state_changed']);
    expect(batches).toEqual([ids]);
    expect(one).toEqual(ids);
    expect(heard.filter((e) => e.id > before.id)).toEqual(appended);
    expect(await store.events.appendAll([])).toEqual([]);
  });

  it('keeps going when a listener throws', async () => {
    const errors: unknown[] = [];
    store = await harness.reopen({ onListenerError: (e: unknown) => errors.push(e) });
    const heard: number[] = [];
    store.events.subscribe(() => {
      throw new Error('listener bug');
    });
    store.events.subscribe((event) => heard.push(event.id));
    const event = await appendSummary();
    await settled(store);
    expect(heard).toEqual([event.id]);
    expect(errors).toHaveLength(1);
  });

  it('moves dataVersion when another connection commits a write that announces nothing', async () => {
    const other = await harness.store();
    const before = await store.events.dataVersion();
    expect(await store.events.dataVersion()).toBe(before);
    await other.state.setExchangeStatus({ state: 'unavailable', reason: 'partner credentials refused' });
    expect(await store.events.dataVersion()).not.toBe(before);
  });
});
