import Database from 'better-sqlite3';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ExchangeUnavailableError,
  ReplyInFlightError,
  type ExchangedTokens,
  type Store,
} from '../../../relay/store/index.js';
import { closeDatabase, openDatabase } from '../../../relay/store/db.js';
import { migrate, MIGRATIONS } from '../../../relay/store/migrations.js';
import { record, storePerTest, TESTER, type StoreHarness } from './helpers.js';

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

describe('a CRSUC and its exchange, in the store', () => {
  let harness: StoreHarness;
  let store: Store;
  storePerTest((h, s) => ((harness = h), (store = s)));
  beforeEach(() => {
    store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
  });

  const replyEvents = (after: number) =>
    store.events
      .after(after, 100)
      .flatMap((e) => (e.type === 'reply.updated' ? [[e.data.reply.status, e.data.reply.state, e.data.reply.lastError]] : []));

  it('exchanging, then the connection and the reply queued for its PUT in one step; connectedBy is who asked', () => {
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    const before = store.events.latestId();
    const facts = store.replies.exchangeFacts('A');
    // 3.0 (the default): the token is taken to live 15 minutes from when the relay saw it.
    const expires = new Date(Date.parse(harness.clock.iso()) + 15 * 60_000).toISOString();
    expect(facts).toEqual({ userId: null, tokenIssuedAt: harness.clock.iso(), tokenExpiresAt: expires, retries: 0, retryLimit: 5 });
    expect(store.replies.markExchanging(replyId, facts!.tokenIssuedAt)).toMatchObject({ state: 'exchanging', status: 'CRSUC', exchanged: false });
    expect(store.requests.get('A')?.reply).toMatchObject({ status: 'CRSUC', state: 'exchanging' });

    const { reply, connection } = store.replies.markExchanged(replyId, tokens);
    expect(reply).toMatchObject({ state: 'queued', status: 'CRSUC', exchanged: true, lastError: null });
    expect(connection).toMatchObject({ requestId: 'A', connectedBy: 'tester', state: 'active' });
    expect(store.connections.tokens(connection!.id)).toMatchObject({ accessToken: ACCESS, refreshToken: REFRESH });
    expect(store.requests.get('A')?.connectionId).toBe(connection!.id);
    expect(store.events.after(before, 100).map((e) => e.type)).toEqual(['reply.updated', 'connection.created', 'reply.updated']);
    expect(replyEvents(before)).toEqual([
      ['CRSUC', 'exchanging', null],
      ['CRSUC', 'queued', null],
    ]);
    // The tokens are in no event.
    expect(JSON.stringify(store.events.after(0, 100))).not.toMatch(/hush/);

    expect(store.replies.markSent(replyId)).toMatchObject({ state: 'sent', status: 'CRSUC' });
    expect(store.requests.get('A')).toMatchObject({ group: 'connected', retries: 0 });
  });

  it('stores nothing for a reply that is no longer exchanging', () => {
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    expect(store.replies.markExchanged(replyId, tokens)).toMatchObject({ reply: { state: 'queued', exchanged: false }, connection: null });
    expect(store.connections.byRequest('A')).toBeUndefined();
  });

  it('a CRRET in its place, sent, then waiting until a poll brings a new token; then the CRSUC goes on', () => {
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    const issued = store.replies.exchangeFacts('A')!.tokenIssuedAt;
    store.replies.markExchanging(replyId, issued);
    const before = store.events.latestId();
    const why = 'Concur refused the request token; a CRRET asks for a new one';
    expect(store.replies.markNewTokenNeeded(replyId, { status: 'CRRET', lastError: why })).toMatchObject({
      status: 'CRRET',
      requestedStatus: 'CRSUC',
      state: 'queued',
      lastError: why,
    });
    // One reply on its way per request, whatever its step.
    expect(() => store.replies.enqueue('A', 'CREU1', { actor: TESTER })).toThrow(ReplyInFlightError);

    store.replies.markAttemptStarted(replyId);
    expect(store.replies.markSent(replyId)).toMatchObject({ status: 'CRRET', state: 'waiting_token', lastError: why, attempts: 1 });
    expect(store.requests.get('A')).toMatchObject({ status: 'CRRET', retries: 1, reply: { status: 'CRRET', state: 'waiting_token' } });
    expect(() => store.replies.enqueue('A', 'CREU1', { actor: TESTER })).toThrow(ReplyInFlightError);
    expect(store.replies.pendingCount()).toBe(1);

    // Not due, however late, until the request token changes.
    const later = harness.clock.advance(3600_000);
    expect(store.replies.due(later, 10)).toEqual([]);
    expect(store.replies.nextDueAt()).toBeNull();
    store.requests.upsertFromConcur([record('A', { lastModified: '2024-05-01T11:00:00Z' })], harness.clock.advance(1000));
    expect(store.replies.due(harness.clock.iso(), 10)).toEqual([]);
    store.requests.upsertFromConcur([record('A', { requestToken: 'a-new-request-token' })], harness.clock.advance(1000));
    expect(store.replies.nextDueAt()).toBe(harness.clock.iso());
    expect(store.replies.due(harness.clock.iso(), 10)).toMatchObject([{ id: replyId, state: 'waiting_token', status: 'CRRET' }]);

    const newIssue = store.replies.exchangeFacts('A')!.tokenIssuedAt;
    expect(newIssue).not.toBe(issued);
    expect(store.replies.markExchanging(replyId, newIssue)).toMatchObject({ status: 'CRSUC', state: 'exchanging', lastError: null });
    expect(store.replies.due(harness.clock.iso(), 10)).toMatchObject([{ id: replyId, state: 'exchanging' }]);
    store.replies.markExchanged(replyId, tokens);
    expect(store.replies.markSent(replyId)).toMatchObject({ status: 'CRSUC', state: 'sent', lastError: null, attempts: 2 });
    expect(replyEvents(before)).toEqual([
      ['CRRET', 'queued', why],
      ['CRRET', 'waiting_token', why],
      ['CRSUC', 'exchanging', null],
      ['CRSUC', 'queued', null],
      ['CRSUC', 'sent', null],
    ]);
    expect(store.requests.get('A')).toMatchObject({ group: 'connected', retries: 1 });
  });

  it('a CRPA1 in its place keeps saying why once sent', () => {
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    store.replies.markExchanging(replyId, null);
    store.replies.markNewTokenNeeded(replyId, { status: 'CRPA1', lastError: 'no retries left' });
    expect(store.replies.markSent(replyId)).toMatchObject({ status: 'CRPA1', requestedStatus: 'CRSUC', state: 'sent', lastError: 'no retries left' });
    expect(store.requests.get('A')).toMatchObject({ status: 'CRPA1', group: 'failed' });
  });

  it('an exchange retry goes back to queued at its time; a refusal of the credentials fails it', () => {
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    store.replies.markExchanging(replyId, null);
    const next = new Date(harness.clock.ms + 5000).toISOString();
    expect(store.replies.markExchangeRetry(replyId, { nextAttemptAt: next, lastError: 'Concur answered 503' })).toMatchObject({
      state: 'queued',
      exchangeAttempts: 1,
      nextAttemptAt: next,
      exchanged: false,
    });
    expect(store.replies.due(harness.clock.iso(), 10)).toEqual([]);
    store.replies.markExchanging(replyId, null);
    expect(store.replies.markExchangeFailed(replyId, 'the client credentials were refused')).toMatchObject({ state: 'failed', status: 'CRSUC' });
    expect(store.requests.get('A')).toMatchObject({ status: 'Pending', reply: { state: 'failed', lastError: 'the client credentials were refused' } });
    expect(store.replies.pendingCount()).toBe(0);
  });

  it('refuses a CRSUC, and only a CRSUC, while the exchange is unavailable', () => {
    store.state.setExchangeStatus({ state: 'unavailable', reason: 'CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET are not set' });
    expect(() => store.replies.enqueue('A', 'CRSUC', { actor: TESTER })).toThrow(ExchangeUnavailableError);
    expect(() => store.replies.enqueue('A', 'CRSUC', { actor: TESTER })).toThrow(/CONCUR_CLIENT_ID/);
    expect(store.replies.enqueue('B', 'CREU1', { actor: TESTER }).reply).toMatchObject({ status: 'CREU1', state: 'queued' });
    store.state.setExchangeStatus({ state: 'ok', reason: null });
    expect(store.replies.enqueue('A', 'CRSUC', { actor: TESTER }).reply.state).toBe('queued');
  });

  it('6: a CRSUC an older relay left in doubt is read back, not exchanged anew', () => {
    const db = openDatabase(harness.path + '-old');
    migrate(db, () => '2024-05-01T10:00:00.000Z', MIGRATIONS.slice(0, 5));
    db.prepare(`INSERT INTO requests (id, status, concur_status, last_modified, first_seen_at, updated_at)
      VALUES ('Q', 'Pending', 'Pending', 't', 't', 't'), ('R', 'Pending', 'Pending', 't', 't', 't')`).run();
    db.prepare(`INSERT INTO replies (request_id, status, state, attempts, next_attempt_at, created_at, updated_at, attempt_started_at)
      VALUES ('Q', 'CRSUC', 'queued', 1, 't', 't', 't', '2024-05-01T10:00:05.000Z'), ('R', 'CRSUC', 'queued', 0, 't', 't', 't', NULL)`).run();
    closeDatabase(db);
    const sqlite = new Database(harness.path + '-old');
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
