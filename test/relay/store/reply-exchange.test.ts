import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExchangeUnavailableError, ReplyInFlightError, type ExchangedTokens } from '../../../relay/store/index.js';
import { closeDatabase, openDatabase } from '../../../relay/store/db.js';
import { migrate, MIGRATIONS } from '../../../relay/store/migrations.js';
import { DATABASES, databasePerTest, type DatabaseHarness, type TestStore } from './databases.js';
import { record, tempDb, TESTER } from './helpers.js';

/**
 * The way of a CRSUC through the store: exchanging (written before the call), the traveller's
 * tokens stored with the reply's change, or a CRRET in its place and a wait for the next token.
 * One reply row carries the whole way; every step is a reply.updated event.
 */

const ACCESS = 'traveller-access-token-hush-1';
const REFRESH = 'traveller-refresh-token-hush-1';
const tokens: ExchangedTokens = {
  form: 'legacy',
  tokens: {
    accessToken: ACCESS,
    refreshToken: REFRESH,
    instanceUrl: 'https://www.concursolutions.com/',
    accessTokenExpiresAt: '2025-05-01T10:00:00.000Z',
    refreshTokenExpiresAt: null,
    geolocation: null,
  },
  nextRefreshAt: '2024-05-02T10:00:00.000Z',
};

describe.each(DATABASES)('a CRSUC and its exchange, in the store ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));
  beforeEach(async () => {
    await store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
  });

  const replyEvents = async (after: number) =>
    (await store.events.after(after, 100)).flatMap((e) => (e.type === 'reply.updated' ? [[e.data.reply.status, e.data.reply.state, e.data.reply.lastError]] : []));

  it('exchanging, then the connection and the reply queued for its PUT in one step; connectedBy is who asked', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    const before = await store.events.latestId();
    const facts = await store.replies.exchangeFacts('A');
    // 3.0 (the default): the token is taken to live 15 minutes from when the relay saw it.
    const expires = new Date(Date.parse(harness.clock.iso()) + 15 * 60_000).toISOString();
    expect(facts).toEqual({ userId: null, tokenIssuedAt: harness.clock.iso(), tokenExpiresAt: expires, retries: 0, retryLimit: 5 });
    expect(await store.replies.markExchanging(replyId, facts!.tokenIssuedAt)).toMatchObject({ state: 'exchanging', status: 'CRSUC', exchanged: false });
    expect((await store.requests.get('A'))?.reply).toMatchObject({ status: 'CRSUC', state: 'exchanging' });

    const { reply, connection } = await store.replies.markExchanged(replyId, tokens);
    expect(reply).toMatchObject({ state: 'queued', status: 'CRSUC', exchanged: true, lastError: null });
    expect(connection).toMatchObject({ requestId: 'A', connectedBy: 'tester', state: 'active' });
    expect(await store.connections.tokens(connection!.id)).toMatchObject({ accessToken: ACCESS, refreshToken: REFRESH });
    expect((await store.requests.get('A'))?.connectionId).toBe(connection!.id);
    expect((await store.events.after(before, 100)).map((e) => e.type)).toEqual(['reply.updated', 'connection.created', 'reply.updated']);
    expect(await replyEvents(before)).toEqual([
      ['CRSUC', 'exchanging', null],
      ['CRSUC', 'queued', null],
    ]);
    // The tokens are in no event.
    expect(JSON.stringify(await store.events.after(0, 100))).not.toMatch(/hush/);

    expect(await store.replies.markSent(replyId)).toMatchObject({ state: 'sent', status: 'CRSUC' });
    expect(await store.requests.get('A')).toMatchObject({ group: 'connected', retries: 0 });
  });

  it('stores nothing for a reply that is no longer exchanging', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    expect(await store.replies.markExchanged(replyId, tokens)).toMatchObject({ reply: { state: 'queued', exchanged: false }, connection: null });
    expect(await store.connections.byRequest('A')).toBeUndefined();
  });

  it('a CRRET in its place, sent, then waiting until a poll brings a new token; then the CRSUC goes on', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    const issued = (await store.replies.exchangeFacts('A'))!.tokenIssuedAt;
    await store.replies.markExchanging(replyId, issued);
    const before = await store.events.latestId();
    const why = 'Concur refused the request token; a CRRET asks for a new one';
    expect(await store.replies.markNewTokenNeeded(replyId, { status: 'CRRET', lastError: why })).toMatchObject({
      status: 'CRRET',
      requestedStatus: 'CRSUC',
      state: 'queued',
      lastError: why,
    });
    // One reply on its way per request, whatever its step.
    await expect(Promise.resolve().then(() => store.replies.enqueue('A', 'CREU1', { actor: TESTER }))).rejects.toThrow(ReplyInFlightError);

    await store.replies.markAttemptStarted(replyId);
    expect(await store.replies.markSent(replyId)).toMatchObject({ status: 'CRRET', state: 'waiting_token', lastError: why, attempts: 1 });
    expect(await store.requests.get('A')).toMatchObject({ status: 'CRRET', retries: 1, reply: { status: 'CRRET', state: 'waiting_token' } });
    await expect(Promise.resolve().then(() => store.replies.enqueue('A', 'CREU1', { actor: TESTER }))).rejects.toThrow(ReplyInFlightError);
    expect(await store.replies.pendingCount()).toBe(1);

    // Not due, however late, until the request token changes.
    const later = harness.clock.advance(3600_000);
    expect(await store.replies.due(later, 10)).toEqual([]);
    expect(await store.replies.nextDueAt()).toBeNull();
    await store.requests.upsertFromConcur([record('A', { lastModified: '2024-05-01T11:00:00Z' })], harness.clock.advance(1000));
    expect(await store.replies.due(harness.clock.iso(), 10)).toEqual([]);
    await store.requests.upsertFromConcur([record('A', { requestToken: 'a-new-request-token' })], harness.clock.advance(1000));
    expect(await store.replies.nextDueAt()).toBe(harness.clock.iso());
    expect(await store.replies.due(harness.clock.iso(), 10)).toMatchObject([{ id: replyId, state: 'waiting_token', status: 'CRRET' }]);

    const newIssue = (await store.replies.exchangeFacts('A'))!.tokenIssuedAt;
    expect(newIssue).not.toBe(issued);
    expect(await store.replies.markExchanging(replyId, newIssue)).toMatchObject({ status: 'CRSUC', state: 'exchanging', lastError: null });
    expect(await store.replies.due(harness.clock.iso(), 10)).toMatchObject([{ id: replyId, state: 'exchanging' }]);
    await store.replies.markExchanged(replyId, tokens);
    expect(await store.replies.markSent(replyId)).toMatchObject({ status: 'CRSUC', state: 'sent', lastError: null, attempts: 2 });
    expect(await replyEvents(before)).toEqual([
      ['CRRET', 'queued', why],
      ['CRRET', 'waiting_token', why],
      ['CRSUC', 'exchanging', null],
      ['CRSUC', 'queued', null],
      ['CRSUC', 'sent', null],
    ]);
    expect(await store.requests.get('A')).toMatchObject({ group: 'connected', retries: 1 });
  });

  it('a CRPA1 in its place keeps saying why once sent', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    await store.replies.markExchanging(replyId, null);
    await store.replies.markNewTokenNeeded(replyId, { status: 'CRPA1', lastError: 'no retries left' });
    expect(await store.replies.markSent(replyId)).toMatchObject({ status: 'CRPA1', requestedStatus: 'CRSUC', state: 'sent', lastError: 'no retries left' });
    expect(await store.requests.get('A')).toMatchObject({ status: 'CRPA1', group: 'failed' });
  });

  it('an exchange retry goes back to queued at its time; a refusal of the credentials fails it', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    await store.replies.markExchanging(replyId, null);
    const next = new Date(harness.clock.ms + 5000).toISOString();
    expect(await store.replies.markExchangeRetry(replyId, { nextAttemptAt: next, lastError: 'Concur answered 503' })).toMatchObject({
      state: 'queued',
      exchangeAttempts: 1,
      nextAttemptAt: next,
      exchanged: false,
    });
    expect(await store.replies.due(harness.clock.iso(), 10)).toEqual([]);
    await store.replies.markExchanging(replyId, null);
    expect(await store.replies.markExchangeFailed(replyId, 'the client credentials were refused')).toMatchObject({ state: 'failed', status: 'CRSUC' });
    expect(await store.requests.get('A')).toMatchObject({ status: 'Pending', reply: { state: 'failed', lastError: 'the client credentials were refused' } });
    expect(await store.replies.pendingCount()).toBe(0);
  });

  it('refuses a CRSUC, and only a CRSUC, while the exchange is unavailable', async () => {
    await store.state.setExchangeStatus({ state: 'unavailable', reason: 'CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET are not set' });
    await expect(Promise.resolve().then(() => store.replies.enqueue('A', 'CRSUC', { actor: TESTER }))).rejects.toThrow(ExchangeUnavailableError);
    await expect(Promise.resolve().then(() => store.replies.enqueue('A', 'CRSUC', { actor: TESTER }))).rejects.toThrow(/CONCUR_CLIENT_ID/);
    expect((await store.replies.enqueue('B', 'CREU1', { actor: TESTER })).reply).toMatchObject({ status: 'CREU1', state: 'queued' });
    await store.state.setExchangeStatus({ state: 'ok', reason: null });
    expect((await store.replies.enqueue('A', 'CRSUC', { actor: TESTER })).reply.state).toBe('queued');
  });

});

describe('a CRSUC from before the exchange (SQLite: the databases that had one)', () => {
  let file: ReturnType<typeof tempDb>;
  beforeEach(() => (file = tempDb()));
  afterEach(() => file.cleanup());

  it('6: a CRSUC an older relay left in doubt is read back, not exchanged anew', () => {
    const db = openDatabase(file.path);
    migrate(db, () => '2024-05-01T10:00:00.000Z', MIGRATIONS.slice(0, 5));
    db.prepare(`INSERT INTO requests (id, status, concur_status, last_modified, first_seen_at, updated_at)
      VALUES ('Q', 'Pending', 'Pending', 't', 't', 't'), ('R', 'Pending', 'Pending', 't', 't', 't')`).run();
    db.prepare(`INSERT INTO replies (request_id, status, state, attempts, next_attempt_at, created_at, updated_at, attempt_started_at)
      VALUES ('Q', 'CRSUC', 'queued', 1, 't', 't', 't', '2024-05-01T10:00:05.000Z'), ('R', 'CRSUC', 'queued', 0, 't', 't', 't', NULL)`).run();
    closeDatabase(db);
    const sqlite = new Database(file.path);
    try {
      migrate(sqlite, () => '2024-05-01T10:00:00.000Z');
      const rows = sqlite.prepare('SELECT request_id, requested_status, exchanged_at FROM replies ORDER BY id').all();
      expect(rows).toEqual([
        { request_id: 'Q', requested_status: 'CRSUC', exchanged_at: '2024-05-01T10:00:05.000Z' },
        { request_id: 'R', requested_status: 'CRSUC', exchanged_at: null },
      ]);
    } finally {
      sqlite.close();
    }
  });
});
