import { beforeEach, describe, expect, it } from 'vitest';
import { ConnectionRequest } from '../../../shared/models.js';
import type { ExchangedTokens, Store } from '../../../relay/store/index.js';
import { record, StoreHarness, TESTER } from './helpers.js';

/**
 * What the member directory is still to be asked, and what it said: the row comes with the
 * request.created of a new pending request, an answer is kept on the request, and the policy's
 * reply is queued in the same transaction unless a reply is there already.
 */

const MINUTE = 60_000;

describe('matches in the store', () => {
  let harness: StoreHarness;
  let store: Store;
  beforeEach(() => {
    harness = new StoreHarness();
    store = harness.storeWith({ askDirectory: true });
    return () => harness.cleanup();
  });

  const ingest = (...records: Parameters<typeof record>[]) =>
    store.requests.upsertFromConcur(records.map((args) => record(...args)), harness.clock.iso());

  it('queues each new pending request with its request.created, and only those', () => {
    ingest(['A'], ['B', { status: 'Processing' }], ['C', { status: 'Failed' }], ['D', { status: 'Connected' }]);
    const now = harness.clock.iso();
    expect(store.matches.nextDueAt()).toBe(now);
    expect(store.matches.due(now, 10)).toEqual([
      {
        requestId: 'A',
        firstName: 'Ada',
        middleName: null,
        lastName: 'Lovelace',
        loyaltyNumber: 'LN-A',
        attempts: 0,
        requestTokenExpiresAt: new Date(harness.clock.ms + 15 * MINUTE).toISOString(),
        stale: null,
      },
      expect.objectContaining({ requestId: 'B', stale: null }),
    ]);
    // A request seen again is no new request: it is not queued twice, nor queued once answered.
    ingest(['A', { firstName: 'Ada Augusta' }]);
    expect(store.matches.due(now, 10).map((due) => due.requestId)).toEqual(['A', 'B']);
    // Nothing in what the directory is asked about is a token.
    expect(JSON.stringify(store.matches.due(now, 10))).not.toContain('secret-request-token');
  });

  it('queues nothing unless a directory is configured', () => {
    const plain = harness.store();
    plain.requests.upsertFromConcur([record('Z')], harness.clock.iso());
    expect(plain.matches.due(harness.clock.iso(), 10)).toEqual([]);
    expect(plain.matches.nextDueAt()).toBeNull();
  });

  it('queues, once a directory is configured, the unanswered pending requests stored before it (and only those)', () => {
    harness.closeAll();
    const before = harness.store();
    before.requests.upsertFromConcur([record('P1'), record('P2'), record('F', { status: 'Failed' })], harness.clock.iso());
    before.replies.enqueue('P2', 'CREU1', { actor: TESTER });
    harness.closeAll();
    const later = harness.storeWith({ askDirectory: true });
    expect(later.matches.due(harness.clock.iso(), 10).map((due) => due.requestId)).toEqual(['P1']);
    // Opened again, nothing is queued twice (an answered one stays answered).
    harness.closeAll();
    expect(harness.storeWith({ askDirectory: true }).matches.due(harness.clock.iso(), 10).map((due) => due.requestId)).toEqual(['P1']);
  });

  it("records a member: the match on the request, the auto reply queued as 'auto' and audited, the member id kept", () => {
    ingest(['A']);
    const before = store.events.latestId();
    const at = harness.clock.iso();
    const recorded = store.matches.record('A', { result: 'member', note: 'gold tier', memberId: 'M-42', reply: 'CRSUC' });
    expect(recorded).toMatchObject({ recorded: true, withheld: null, reply: { reply: { status: 'CRSUC', state: 'queued', requestedBy: 'auto' } } });
    const request = ConnectionRequest.parse(store.requests.get('A'));
    expect(request.match).toEqual({ result: 'member', note: 'gold tier', at });
    expect(request.reply).toMatchObject({ status: 'CRSUC', requestedBy: 'auto' });
    expect(store.matches.memberId('A')).toBe('M-42');
    expect(store.events.after(before, 10).map((event) => event.type)).toEqual(['reply.updated', 'request.updated']);
    expect(store.audit.list({ limit: 10 }).items[0]).toMatchObject({
      actor: { keyId: null, name: 'auto' },
      action: 'reply.requested',
      target: 'A',
      details: { status: 'CRSUC' },
    });
    // Asked for the last time: nothing is due any more, and a late second answer changes nothing.
    expect(store.matches.due(harness.clock.advance(MINUTE), 10)).toEqual([]);
    expect(store.matches.record('A', { result: 'not_found', note: null, memberId: null, reply: 'CREU1' })).toEqual({ recorded: false });
    expect(store.requests.get('A')?.match?.result).toBe('member');
  });

  it("never answers a request a person answered: the person's reply stands, the directory's answer is still shown", () => {
    ingest(['A']);
    store.replies.enqueue('A', 'CREU1', { actor: TESTER });
    expect(store.matches.due(harness.clock.iso(), 10)).toMatchObject([{ requestId: 'A', stale: 'answered' }]);
    const recorded = store.matches.record('A', { result: 'member', note: null, memberId: 'M-1', reply: 'CRSUC' });
    expect(recorded).toEqual({ recorded: true, reply: null, withheld: 'answered' });
    const request = store.requests.get('A');
    expect(request?.reply).toMatchObject({ status: 'CREU1', requestedBy: 'tester' });
    expect(request?.match).toMatchObject({ result: 'member' });
    expect(store.audit.list({ limit: 10 }).items.filter((line) => line.actor.name === 'auto')).toEqual([]);
  });

  it('withholds the reply for a request Concur no longer shows as pending', () => {
    ingest(['A']);
    ingest(['A', { status: 'Connected' }]);
    expect(store.matches.due(harness.clock.iso(), 10)).toMatchObject([{ requestId: 'A', stale: 'not_pending' }]);
    expect(store.matches.record('A', { result: 'member', note: null, memberId: null, reply: 'CRSUC' })).toEqual({
      recorded: true,
      reply: null,
      withheld: 'not_pending',
    });
    expect(store.requests.get('A')?.reply).toBeNull();
  });

  it('asks again when told to, counting the calls, and survives a restart', () => {
    ingest(['A']);
    const retryAt = harness.clock.ms + 5_000;
    store.matches.record('A', { result: 'unknown', note: 'the directory answered 500', memberId: null, retryAt, reply: null });
    expect(store.requests.get('A')?.match).toEqual({ result: 'unknown', note: 'the directory answered 500', at: harness.clock.iso() });
    expect(store.matches.due(harness.clock.iso(), 10)).toEqual([]);
    expect(store.matches.nextDueAt()).toBe(new Date(retryAt).toISOString());
    store = harness.reopen();
    expect(store.matches.due(harness.clock.advance(5_000), 10)).toMatchObject([{ requestId: 'A', attempts: 1 }]);
    store.matches.record('A', { result: 'unknown', note: null, memberId: 'ignored', reply: null });
    expect(store.matches.due(harness.clock.advance(MINUTE), 10)).toEqual([]);
    // Only a member's id is kept.
    expect(store.matches.memberId('A')).toBeNull();
  });

  it('closes a request not worth asking about, without a match', () => {
    ingest(['A']);
    store.replies.enqueue('A', 'CRRET', { actor: TESTER });
    store.matches.close('A');
    expect(store.matches.due(harness.clock.advance(MINUTE), 10)).toEqual([]);
    expect(store.matches.nextDueAt()).toBeNull();
    expect(store.requests.get('A')?.match).toBeNull();
  });

  const tokens: ExchangedTokens = {
    form: 'legacy',
    tokens: {
      accessToken: 'traveller-access-token',
      refreshToken: 'traveller-refresh-token',
      instanceUrl: 'https://www.concursolutions.com/',
      accessTokenExpiresAt: '2025-05-01T10:00:00.000Z',
      refreshTokenExpiresAt: null,
      geolocation: null,
    },
    nextRefreshAt: '2024-05-02T10:00:00.000Z',
  };

  it("keeps the member id on the connection the CRSUC's exchange makes, whoever asked for the CRSUC", () => {
    ingest(['A'], ['B']);
    const auto = store.matches.record('A', { result: 'member', note: null, memberId: 'M-42', reply: 'CRSUC' });
    const replyId = auto.recorded && auto.reply !== null ? auto.reply.replyId : -1;
    store.replies.markExchanging(replyId, harness.clock.iso());
    expect(store.replies.markExchanged(replyId, tokens).connection).toMatchObject({ requestId: 'A', memberId: 'M-42', connectedBy: 'auto' });
    // Under `connect` a person may connect a member the policy left alone: the member id still goes with it.
    store.matches.record('B', { result: 'member', note: null, memberId: 'M-43', reply: null });
    const { replyId: byPerson } = store.replies.enqueue('B', 'CRSUC', { actor: TESTER });
    store.replies.markExchanging(byPerson, harness.clock.iso());
    expect(store.replies.markExchanged(byPerson, tokens).connection).toMatchObject({ memberId: 'M-43', connectedBy: 'tester' });
  });

  it('records a member while the exchange is unavailable, queuing nothing: it waits for a person', () => {
    ingest(['A']);
    store.state.setExchangeStatus({ state: 'unavailable', reason: 'CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET are not set' });
    expect(store.matches.record('A', { result: 'member', note: null, memberId: 'M-1', reply: 'CRSUC' })).toEqual({
      recorded: true,
      reply: null,
      withheld: 'exchange_unavailable',
    });
    expect(store.requests.get('A')).toMatchObject({ reply: null, match: { result: 'member' } });
    expect(store.matches.due(harness.clock.advance(MINUTE), 10)).toEqual([]);
  });
});
