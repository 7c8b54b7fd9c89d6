import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../relay/store/index.js';
import { storePerTest, type StoreHarness } from './helpers.js';

describe('relay state', () => {
  let harness: StoreHarness;
  let store: Store;
  storePerTest((h, s) => ((harness = h), (store = s)));

  it('starts unknown, merges updates, keeps them across a restart', () => {
    expect(store.state.concurStatus()).toEqual({ state: 'unknown', lastPollAt: null, lastSuccessAt: null, lastError: null });
    const at = harness.clock.iso();
    const first = store.state.updateConcurStatus({ state: 'ok', lastPollAt: at, lastSuccessAt: at });
    expect(first).toEqual({ status: { state: 'ok', lastPollAt: at, lastSuccessAt: at, lastError: null }, changed: true });

    const later = harness.clock.advance(60_000);
    const second = store.state.updateConcurStatus({ state: 'degraded', lastPollAt: later, lastError: 'bad XML: unclosed tag' });
    expect(second.status).toEqual({ state: 'degraded', lastPollAt: later, lastSuccessAt: at, lastError: 'bad XML: unclosed tag' });

    store = harness.reopen();
    expect(store.state.concurStatus()).toEqual(second.status);
    expect(store.state.summary().concur).toEqual(second.status);

    const cleared = store.state.updateConcurStatus({ state: 'ok', lastError: null });
    expect(cleared.status.lastError).toBeNull();
  });

  it('appends concur.state_changed only when the state changes', () => {
    store.state.updateConcurStatus({ state: 'ok' });
    store.state.updateConcurStatus({ state: 'ok', lastPollAt: harness.clock.advance(1000) });
    store.state.updateConcurStatus({ state: 'unauthorized', lastError: 'Concur answered 401' });
    const events = store.events.after(0, 10);
    expect(events.map((e) => [e.type, e.type === 'concur.state_changed' ? e.data.state : null])).toEqual([
      ['concur.state_changed', 'ok'],
      ['concur.state_changed', 'unauthorized'],
    ]);
    expect(store.state.updateConcurStatus({ lastPollAt: harness.clock.advance(1000) }).changed).toBe(false);
  });

  it('keeps the rotated refresh token while the configured one stays the same', () => {
    expect(store.state.currentRefreshToken('configured-1')).toBe('configured-1');
    store.state.saveRefreshToken('configured-1', 'rotated-a');
    store.state.saveRefreshToken('configured-1', 'rotated-b');
    store = harness.reopen();
    expect(store.state.currentRefreshToken('configured-1')).toBe('rotated-b');
    // The operator configured a new token: it wins over the old chain.
    expect(store.state.currentRefreshToken('configured-2')).toBe('configured-2');
    expect(JSON.stringify(store.events.after(0, 100))).not.toContain('rotated');
  });

  it('says no directory and policy off until a relay records what auto-connect does', () => {
    // An existing database (made before the field): nothing recorded, so nothing is asked about.
    expect(store.state.autoConnect()).toEqual({ policy: 'off', directory: false });
    expect(store.state.summary().autoConnect).toEqual({ policy: 'off', directory: false });
  });

  it('keeps what auto-connect does across a restart, and announces each change with a summary event', () => {
    store.state.updateConcurStatus({ state: 'ok' });
    expect(store.state.setAutoConnect({ policy: 'connect', directory: true })).toBe(true);
    // The same again (the next start with the same configuration): nothing to announce.
    expect(store.state.setAutoConnect({ policy: 'connect', directory: true })).toBe(false);
    store = harness.reopen();
    expect(store.state.summary().autoConnect).toEqual({ policy: 'connect', directory: true });
    expect(store.state.setAutoConnect({ policy: 'off', directory: false })).toBe(true);

    const summaries = store.events.after(0, 10).flatMap((e) => (e.type === 'summary' ? [e.data] : []));
    expect(summaries.map((s) => s.autoConnect)).toEqual([
      { policy: 'connect', directory: true },
      { policy: 'off', directory: false },
    ]);
    // A whole summary, as a client reads it: the rest is as it is.
    expect(summaries[1]).toEqual(store.state.summary());
    expect(summaries[1]?.concur.state).toBe('ok');
  });

  it('refuses a value outside the model, and reads an unreadable stored one as never said', () => {
    expect(() => store.state.setAutoConnect({ policy: 'sometimes', directory: true } as never)).toThrow();
    expect(store.events.after(0, 10)).toEqual([]);
    const db = new Database(harness.path);
    db.prepare("INSERT INTO relay_state (key, value, updated_at) VALUES ('autoConnect', '{not json', '2024-05-01T10:00:00.000Z')").run();
    db.close();
    expect(store.state.autoConnect()).toEqual({ policy: 'off', directory: false });
  });
});
