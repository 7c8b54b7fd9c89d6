import { describe, expect, it } from 'vitest';
import { Connection } from '../../../shared/connections.js';
import { BadCursorError, UnknownConnectionError, webhookTypeOf, type HeldTokenSet } from '../../../relay/store/index.js';
import { DATABASES, databasePerTest, type DatabaseHarness, type TestStore } from './databases.js';
import { record } from './helpers.js';

/** Connections in the store: the tokens sealed at rest and opened only on demand, each change an event. */

const HOUR = 3_600_000;
const MINUTE = 60_000;
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

describe.each(DATABASES)('connections in the store ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));

  async function connect(id: string, n = 1, on: TestStore = store) {
    await on.requests.upsertFromConcur([record(id, { userId: `user-${id}` })], harness.clock.iso());
    return on.connections.create({ requestId: id, form: 'password', tokens: tokens(n), connectedBy: 'Alice', nextRefreshAt: harness.clock.ms + HOUR });
  }

  it('keeps a connection with the names of its request, the tokens sealed: never in the database, opened on demand', async () => {
    const before = await store.events.latestId();
    const connection = await connect('A');
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
    expect((await store.events.after(before, 10)).map((e) => e.type)).toEqual(['request.created', 'connection.created']);
    expect((await store.requests.get('A'))?.connectionId).toBe(connection.id);
    expect(await store.connections.tokens(connection.id)).toMatchObject({ accessToken: 'user-access-token-1-secret', refreshToken: 'user-refresh-token-1-secret', form: 'password' });
    const raw = await harness.rawText(['connections']);
    expect(raw).toContain(connection.id);
    expect(raw).not.toContain('user-access-token-1-secret');
    expect(raw).not.toContain('user-refresh-token-1-secret');
  });

  it('stores a refresh (the refresh token rotated) and schedules the next one', async () => {
    const { id } = await connect('A');
    harness.clock.advance(HOUR);
    const next = harness.clock.ms + HOUR;
    const refreshed = await store.connections.refreshed(id, tokens(2, { accessTokenExpiresAt: '2024-05-01T12:00:00.000Z' }), next);
    expect(refreshed).toMatchObject({ state: 'active', lastRefreshedAt: harness.clock.iso(), accessTokenExpiresAt: '2024-05-01T12:00:00.000Z' });
    expect((await store.connections.tokens(id))?.refreshToken).toBe('user-refresh-token-2-secret');
    expect(await store.connections.dueForRefresh(next - 1, 10)).toEqual([]);
    expect(await store.connections.dueForRefresh(next, 10)).toEqual([id]);
    expect(await store.connections.nextRefreshAt()).toBe(new Date(next).toISOString());
  });

  it('a temporary refresh failure is kept quietly; a final one breaks the connection with an event and a webhook', async () => {
    const { id } = await connect('A');
    const before = await store.events.latestId();
    const later = harness.clock.ms + 60_000;
    expect(await store.connections.refreshFailed(id, 'Concur answered 503', { final: false, nextRefreshAt: later })).toMatchObject({
      state: 'active',
      lastError: 'Concur answered 503',
    });
    expect(await store.events.after(before, 10)).toEqual([]);
    expect(await store.connections.dueForRefresh(later, 10)).toEqual([id]);
    const broken = await store.connections.refreshFailed(id, 'invalid_grant (code 108)', { final: true });
    expect(broken.state).toBe('refresh_failed');
    const [event] = await store.events.after(before, 10);
    expect(event?.type).toBe('connection.updated');
    expect(webhookTypeOf(event!)).toBe('connection.broken');
    expect(await store.connections.dueForRefresh(harness.clock.ms + 365 * 24 * HOUR, 10)).toEqual([]);
  });

  it('revokes: the tokens erased from the database, the state revoked, audited, announced once', async () => {
    const { id } = await connect('A');
    const before = await store.events.latestId();
    const revoked = await store.connections.revoke(id, ADMIN);
    expect(revoked.state).toBe('revoked');
    expect(await store.connections.tokens(id)).toBeUndefined();
    expect(await store.connections.revoke(id, ADMIN)).toEqual(revoked);
    const events = await store.events.after(before, 10);
    expect(events.map((e) => webhookTypeOf(e))).toEqual(['connection.revoked']);
    expect((await store.audit.list({ limit: 5 })).items[0]).toMatchObject({ action: 'connection.revoked', actor: ADMIN, target: id });
    await expect(Promise.resolve().then(() => store.connections.revoke('con_nope', ADMIN))).rejects.toThrow(UnknownConnectionError);
    await harness.closeAll();
    expect(await harness.rawText(['connections'])).not.toContain('user-access-token-1-secret');
  });

  it('lists newest first in pages, by state, and counts them', async () => {
    const ids: string[] = [];
    for (const id of ['A', 'B', 'C', 'D']) {
      harness.clock.advance(1000);
      ids.push((await connect(id)).id);
    }
    await store.connections.revoke(ids[1]!, ADMIN);
    const first = await store.connections.list({ limit: 3 });
    expect(first.items.map((c) => c.requestId)).toEqual(['D', 'C', 'B']);
    expect(await store.connections.list({ limit: 3, cursor: first.nextCursor! })).toMatchObject({ items: [{ requestId: 'A' }], nextCursor: null });
    expect((await store.connections.list({ limit: 10, state: 'revoked' })).items.map((c) => c.requestId)).toEqual(['B']);
    expect(await store.connections.counts()).toEqual({ active: 3, refresh_failed: 0, revoked: 1 });
    for (const bad of ['x', 'c.', 'c.bm9wZQ', `${first.nextCursor}x`]) {
      await expect(Promise.resolve().then(() => store.connections.list({ limit: 3, cursor: bad })), bad).rejects.toThrow(BadCursorError);
    }
  });

  it('a request connected again (after a CRRET and a new token) keeps its one connection, with the new tokens', async () => {
    const first = await connect('A', 1);
    await store.connections.refreshFailed(first.id, 'invalid_grant', { final: true });
    const again = await store.connections.create({ requestId: 'A', form: 'legacy', tokens: tokens(3), connectedBy: 'auto', nextRefreshAt: harness.clock.ms });
    expect(again).toMatchObject({ id: first.id, state: 'active', connectedBy: 'auto', lastError: null });
    expect(await store.connections.tokens(first.id)).toMatchObject({ form: 'legacy', accessToken: 'user-access-token-3-secret' });
  });

  it('claims a refresh for one caller until its lease ends or its outcome is stored; meanwhile it is not due', async () => {
    const { id } = await connect('A');
    harness.clock.advance(HOUR);
    const claim = await store.connections.claimRefresh(id, harness.clock.ms, 2 * MINUTE);
    expect(claim).toMatchObject({ kind: 'claimed', tokens: { id, refreshToken: 'user-refresh-token-1-secret' } });
    const leaseEnd = new Date(harness.clock.ms + 2 * MINUTE).toISOString();
    expect(await store.connections.claimRefresh(id, harness.clock.ms, 2 * MINUTE)).toEqual({ kind: 'busy', until: leaseEnd });
    expect(await store.connections.dueForRefresh(harness.clock.ms, 10)).toEqual([]);
    expect(await store.connections.nextRefreshAt()).toBe(leaseEnd);
    // A claim whose holder never came back (a relay that died at Concur) lapses with its lease.
    harness.clock.advance(2 * MINUTE);
    expect(await store.connections.dueForRefresh(harness.clock.ms, 10)).toEqual([id]);
    expect((await store.connections.claimRefresh(id, harness.clock.ms, 2 * MINUTE, true)).kind).toBe('claimed');
    // The outcome stored, the claim is over: the connection is due again when the refresh says, and
    // a worker that listed it as due before (on another relay) finds it is not; a token needed now may still refresh it.
    const next = harness.clock.ms + HOUR;
    await store.connections.refreshed(id, tokens(2), next);
    expect(await store.connections.nextRefreshAt()).toBe(new Date(next).toISOString());
    expect(await store.connections.claimRefresh(id, harness.clock.ms, MINUTE, true)).toEqual({ kind: 'not_due' });
    expect((await store.connections.claimRefresh(id, harness.clock.ms, MINUTE)).kind).toBe('claimed');
    await store.connections.refreshFailed(id, 'Concur answered 503', { final: false, nextRefreshAt: next });
    expect((await store.connections.claimRefresh(id, harness.clock.ms, MINUTE)).kind).toBe('claimed');
  });

  it('has no refresh to claim for an unknown, broken or revoked connection', async () => {
    const broken = await connect('A');
    await store.connections.refreshFailed(broken.id, 'invalid_grant', { final: true });
    const revoked = await connect('B');
    await store.connections.revoke(revoked.id, ADMIN);
    for (const id of ['con_nope', broken.id, revoked.id]) {
      expect(await store.connections.claimRefresh(id, harness.clock.ms, MINUTE), id).toEqual({ kind: 'gone' });
    }
  });

  it('two relays claiming the refresh of the same connections at once: each is claimed by exactly one', async () => {
    const other = await harness.store();
    const ids: string[] = [];
    for (const name of ['A', 'B', 'C', 'D', 'E', 'F']) ids.push((await connect(name)).id);
    const claims = await Promise.all(
      ids.flatMap((id) => [store, other, store, other].map(async (relay, n) => ({ id, n, claim: await relay.connections.claimRefresh(id, harness.clock.ms, MINUTE) }))),
    );
    for (const id of ids) {
      const kinds = claims.filter((c) => c.id === id).map((c) => c.claim.kind);
      expect(kinds.filter((kind) => kind === 'claimed'), id).toHaveLength(1);
      expect(kinds.filter((kind) => kind === 'busy'), id).toHaveLength(3);
    }
    // What one relay stores frees the claim for both.
    await other.connections.refreshed(ids[0]!, tokens(2), harness.clock.ms);
    expect((await store.connections.claimRefresh(ids[0]!, harness.clock.ms, MINUTE)).kind).toBe('claimed');
  });
});
