import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../../shared/connections.js';
import { BadCursorError, UnknownConnectionError, webhookTypeOf, type HeldTokenSet, type Store } from '../../../relay/store/index.js';
import { record, storePerTest, type StoreHarness } from './helpers.js';

/** Connections in the store: the tokens sealed at rest and opened only on demand, each change an event. */

const HOUR = 3_600_000;
const ADMIN = { keyId: 'key_admin', name: 'Root' };

function tokens(n: number, over: Partial<HeldTokenSet> = {}): HeldTokenSet {
  return {
    accessToken: `user-access-token-${n}-secret`,
    refreshToken: `user-refresh-token-${n}-secret`,
    instanceUrl: 'https://www.ea1.concursolutions.com/',
    accessTokenExpiresAt: '2024-05-01T11:00:00.000Z',
    refreshTokenExpiresAt: '2024-11-01T10:00:00.000Z',
    geolocation: 'https://us.api.concursolutions.com',
    ...over,
  };
}

function rawBytes(harness: StoreHarness): Buffer {
  const parts: Buffer[] = [];
  for (const file of [harness.path, `${harness.path}-wal`]) {
    try {
      parts.push(readFileSync(file));
    } catch {
      // no WAL right now
    }
  }
  return Buffer.concat(parts);
}

describe('connections in the store', () => {
  let harness: StoreHarness;
  let store: Store;
  storePerTest((h, s) => ((harness = h), (store = s)));

  function connect(id: string, n = 1) {
    store.requests.upsertFromConcur([record(id, { userId: `user-${id}` })], harness.clock.iso());
    return store.connections.create({ requestId: id, form: 'password', tokens: tokens(n), connectedBy: 'Alice', nextRefreshAt: harness.clock.ms + HOUR });
  }

  it('keeps a connection with the names of its request, the tokens sealed: never in the file, opened on demand', () => {
    const before = store.events.latestId();
    const connection = connect('A');
    expect(Connection.parse(connection)).toEqual({
      id: connection.id,
      requestId: 'A',
      concurUserId: 'user-A',
      firstName: 'Ada',
      lastName: 'Lovelace',
      loyaltyNumber: 'LN-A',
      memberId: null,
      instanceUrl: 'https://www.ea1.concursolutions.com/',
      state: 'active',
      connectedAt: harness.clock.iso(),
      connectedBy: 'Alice',
      accessTokenExpiresAt: '2024-05-01T11:00:00.000Z',
      refreshTokenExpiresAt: '2024-11-01T10:00:00.000Z',
      lastRefreshedAt: null,
      lastError: null,
    });
    expect(JSON.stringify(connection)).not.toContain('secret');
    expect(store.events.after(before, 10).map((e) => e.type)).toEqual(['request.created', 'connection.created']);
    expect(store.requests.get('A')?.connectionId).toBe(connection.id);
    expect(store.connections.tokens(connection.id)).toMatchObject({ accessToken: 'user-access-token-1-secret', refreshToken: 'user-refresh-token-1-secret', form: 'password' });
    const bytes = rawBytes(harness);
    expect(bytes.includes(Buffer.from('user-access-token-1-secret'))).toBe(false);
    expect(bytes.includes(Buffer.from('user-refresh-token-1-secret'))).toBe(false);
  });

  it('stores a refresh (the refresh token rotated) and schedules the next one', () => {
    const { id } = connect('A');
    harness.clock.advance(HOUR);
    const next = harness.clock.ms + HOUR;
    const refreshed = store.connections.refreshed(id, tokens(2, { accessTokenExpiresAt: '2024-05-01T12:00:00.000Z' }), next);
    expect(refreshed).toMatchObject({ state: 'active', lastRefreshedAt: harness.clock.iso(), accessTokenExpiresAt: '2024-05-01T12:00:00.000Z' });
    expect(store.connections.tokens(id)?.refreshToken).toBe('user-refresh-token-2-secret');
    expect(store.connections.dueForRefresh(next - 1, 10)).toEqual([]);
    expect(store.connections.dueForRefresh(next, 10)).toEqual([id]);
    expect(store.connections.nextRefreshAt()).toBe(new Date(next).toISOString());
  });

  it('a temporary refresh failure is kept quietly; a final one breaks the connection with an event and a webhook', () => {
    const { id } = connect('A');
    const before = store.events.latestId();
    const later = harness.clock.ms + 60_000;
    expect(store.connections.refreshFailed(id, 'Concur answered 503', { final: false, nextRefreshAt: later })).toMatchObject({
      state: 'active',
      lastError: 'Concur answered 503',
    });
    expect(store.events.after(before, 10)).toEqual([]);
    expect(store.connections.dueForRefresh(later, 10)).toEqual([id]);
    const broken = store.connections.refreshFailed(id, 'invalid_grant (code 108)', { final: true });
    expect(broken.state).toBe('refresh_failed');
    const [event] = store.events.after(before, 10);
    expect(event?.type).toBe('connection.updated');
    expect(webhookTypeOf(event!)).toBe('connection.broken');
    expect(store.connections.dueForRefresh(harness.clock.ms + 365 * 24 * HOUR, 10)).toEqual([]);
  });

  it('revokes: the tokens erased from the file, the state revoked, audited, announced once', () => {
    const { id } = connect('A');
    const before = store.events.latestId();
    const revoked = store.connections.revoke(id, ADMIN);
    expect(revoked.state).toBe('revoked');
    expect(store.connections.tokens(id)).toBeUndefined();
    expect(store.connections.revoke(id, ADMIN)).toEqual(revoked);
    const events = store.events.after(before, 10);
    expect(events.map((e) => webhookTypeOf(e))).toEqual(['connection.revoked']);
    expect(store.audit.list({ limit: 5 }).items[0]).toMatchObject({ action: 'connection.revoked', actor: ADMIN, target: id });
    expect(() => store.connections.revoke('con_nope', ADMIN)).toThrow(UnknownConnectionError);
    store.close();
    const sealedRows = rawBytes(harness).toString('latin1');
    expect(sealedRows.includes('user-access-token-1-secret')).toBe(false);
  });

  it('lists newest first in pages, by state, and counts them', () => {
    const ids: string[] = [];
    for (const id of ['A', 'B', 'C', 'D']) {
      harness.clock.advance(1000);
      ids.push(connect(id).id);
    }
    store.connections.revoke(ids[1]!, ADMIN);
    const first = store.connections.list({ limit: 3 });
    expect(first.items.map((c) => c.requestId)).toEqual(['D', 'C', 'B']);
    expect(store.connections.list({ limit: 3, cursor: first.nextCursor! })).toMatchObject({ items: [{ requestId: 'A' }], nextCursor: null });
    expect(store.connections.list({ limit: 10, state: 'revoked' }).items.map((c) => c.requestId)).toEqual(['B']);
    expect(store.connections.counts()).toEqual({ active: 3, refresh_failed: 0, revoked: 1 });
    for (const bad of ['x', 'c.', 'c.bm9wZQ', `${first.nextCursor}x`]) expect(() => store.connections.list({ limit: 3, cursor: bad }), bad).toThrow(BadCursorError);
  });

  it('a request connected again (after a CRRET and a new token) keeps its one connection, with the new tokens', () => {
    const first = connect('A', 1);
    store.connections.refreshFailed(first.id, 'invalid_grant', { final: true });
    const again = store.connections.create({ requestId: 'A', form: 'legacy', tokens: tokens(3), connectedBy: 'auto', nextRefreshAt: harness.clock.ms });
    expect(again).toMatchObject({ id: first.id, state: 'active', connectedBy: 'auto', lastError: null });
    expect(store.connections.tokens(first.id)).toMatchObject({ form: 'legacy', accessToken: 'user-access-token-3-secret' });
  });
});
