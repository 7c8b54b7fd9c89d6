import { describe, expect, it } from 'vitest';
import { DATABASES, databasePerTest, type DatabaseHarness, type TestStore } from './databases.js';

describe.each(DATABASES)('relay state ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));

  it('starts unknown, merges updates, keeps them across a restart', async () => {
    expect(await store.state.concurStatus()).toEqual({ state: 'unknown', lastPollAt: null, lastSuccessAt: null, lastError: null });
    const at = harness.clock.iso();
    const first = await store.state.updateConcurStatus({ state: 'ok', lastPollAt: at, lastSuccessAt: at });
    expect(first).toEqual({ status: { state: 'ok', lastPollAt: at, lastSuccessAt: at, lastError: null }, changed: true });

    const later = harness.clock.advance(60_000);
    const second = await store.state.updateConcurStatus({ state: 'degraded', lastPollAt: later, lastError: 'bad XML: unclosed tag' });
    expect(second.status).toEqual({ state: 'degraded', lastPollAt: later, lastSuccessAt: at, lastError: 'bad XML: unclosed tag' });

    store = await harness.reopen();
    expect(await store.state.concurStatus()).toEqual(second.status);
    expect((await store.state.summary()).concur).toEqual(second.status);

    const cleared = await store.state.updateConcurStatus({ state: 'ok', lastError: null });
    expect(cleared.status.lastError).toBeNull();
  });

  it('appends concur.state_changed only when the state changes', async () => {
    await store.state.updateConcurStatus({ state: 'ok' });
    await store.state.updateConcurStatus({ state: 'ok', lastPollAt: harness.clock.advance(1000) });
    await store.state.updateConcurStatus({ state: 'unauthorized', lastError: 'Concur answered 401' });
    const events = await store.events.after(0, 10);
    expect(events.map((e) => [e.type, e.type === 'concur.state_changed' ? e.data.state : null])).toEqual([
      ['concur.state_changed', 'ok'],
      ['concur.state_changed', 'unauthorized'],
    ]);
    expect((await store.state.updateConcurStatus({ lastPollAt: harness.clock.advance(1000) })).changed).toBe(false);
  });

  it('keeps the rotated refresh token while the configured one stays the same', async () => {
    expect(await store.state.currentRefreshToken('configured-1')).toBe('configured-1');
    await store.state.saveRefreshToken('configured-1', 'rotated-a');
    await store.state.saveRefreshToken('configured-1', 'rotated-b');
    store = await harness.reopen();
    expect(await store.state.currentRefreshToken('configured-1')).toBe('rotated-b');
    // The operator configured a new token: it wins over the old chain.
    expect(await store.state.currentRefreshToken('configured-2')).toBe('configured-2');
    expect(JSON.stringify(await store.events.after(0, 100))).not.toContain('rotated');
  });

  it('says no directory and policy off until a relay records what auto-connect does', async () => {
    // An existing database (made before the field): nothing recorded, so nothing is asked about.
    expect(await store.state.autoConnect()).toEqual({ policy: 'off', directory: false });
    expect((await store.state.summary()).autoConnect).toEqual({ policy: 'off', directory: false });
  });

  it('keeps what auto-connect does across a restart, and announces each change with a summary event', async () => {
    await store.state.updateConcurStatus({ state: 'ok' });
    expect(await store.state.setAutoConnect({ policy: 'connect', directory: true })).toBe(true);
    // The same again (the next start with the same configuration): nothing to announce.
    expect(await store.state.setAutoConnect({ policy: 'connect', directory: true })).toBe(false);
    store = await harness.reopen();
    expect((await store.state.summary()).autoConnect).toEqual({ policy: 'connect', directory: true });
    expect(await store.state.setAutoConnect({ policy: 'off', directory: false })).toBe(true);

    const summaries = (await store.events.after(0, 10)).flatMap((e) => (e.type === 'summary' ? [e.data] : []));
    expect(summaries.map((s) => s.autoConnect)).toEqual([
      { policy: 'connect', directory: true },
      { policy: 'off', directory: false },
    ]);
    // A whole summary, as a client reads it: the rest is as it is.
    expect(summaries[1]).toEqual(await store.state.summary());
    expect(summaries[1]?.concur.state).toBe('ok');
  });

  it('refuses a value outside the model, and reads an unreadable stored one as never said', async () => {
    await expect(Promise.resolve().then(() => store.state.setAutoConnect({ policy: 'sometimes', directory: true } as never))).rejects.toThrow();
    expect(await store.events.after(0, 10)).toEqual([]);
    await harness.execute("INSERT INTO relay_state (key, value, updated_at) VALUES ('autoConnect', '{not json', '2024-05-01T10:00:00.000Z')");
    expect(await store.state.autoConnect()).toEqual({ policy: 'off', directory: false });
  });

  it('announces a change of state once when two relays record it at once', async () => {
    const other = await harness.store();
    const results = await Promise.all([
      store.state.updateConcurStatus({ state: 'ok' }),
      other.state.updateConcurStatus({ state: 'ok' }),
      store.state.setAutoConnect({ policy: 'connect', directory: true }),
      other.state.setAutoConnect({ policy: 'connect', directory: true }),
    ]);
    expect(results.filter((result) => result === true || (typeof result === 'object' && result.changed))).toHaveLength(2);
    expect((await store.events.after(0, 10)).map((e) => e.type).sort()).toEqual(['concur.state_changed', 'summary']);
  });
});
