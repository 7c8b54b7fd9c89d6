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
});
