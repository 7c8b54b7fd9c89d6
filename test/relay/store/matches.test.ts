import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionRequest } from '../../../shared/models.js';
import type { ExchangedTokens } from '../../../relay/store/index.js';
import { DatabaseHarness, DATABASES, type TestStore } from './databases.js';
import { record, TESTER } from './helpers.js';

/**
 * What the member directory is still to be asked, and what it said: the row comes with the
 * request.created of a new pending request, an answer is kept on the request, and the policy's
 * reply is queued in the same transaction unless a reply is there already.
 */

const MINUTE = 60_000;

describe.each(DATABASES)('matches in the store ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  beforeEach(async () => {
    harness = new DatabaseHarness(database);
    store = await harness.store({ askDirectory: true });
  });
  afterEach(() => harness.cleanup());

  const ingest = (...records: Parameters<typeof record>[]) =>
    store.requests.upsertFromConcur(records.map((args) => record(...args)), harness.clock.iso());

  it('queues each new pending request with its request.created, and only those', async () => {
    await ingest(['A'], ['B', { status: 'Processing' }], ['C', { status: 'Failed' }], ['D', { status: 'Connected' }]);
    const now = harness.clock.iso();
    expect(await store.matches.nextDueAt()).toBe(now);
    expect(await store.matches.due(now, 10)).toEqual([
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
    await ingest(['A', { firstName: 'Ada Augusta' }]);
    expect((await store.matches.due(now, 10)).map((due) => due.requestId)).toEqual(['A', 'B']);
    // Nothing in what the directory is asked about is a token.
    expect(JSON.stringify(await store.matches.due(now, 10))).not.toContain('secret-request-token');
  });

  it('queues nothing unless a directory is configured', async () => {
    const plain = await harness.store();
    await plain.requests.upsertFromConcur([record('Z')], harness.clock.iso());
    expect(await plain.matches.due(harness.clock.iso(), 10)).toEqual([]);
    expect(await plain.matches.nextDueAt()).toBeNull();
  });

  it('queues, once a directory is configured, the unanswered pending requests stored before it (and only those)', async () => {
    await harness.closeAll();
    const before = await harness.store();
    await before.requests.upsertFromConcur([record('P1'), record('P2'), record('F', { status: 'Failed' })], harness.clock.iso());
    await before.replies.enqueue('P2', 'CREU1', { actor: TESTER });
    await harness.closeAll();
    const later = await harness.store({ askDirectory: true });
    expect((await later.matches.due(harness.clock.iso(), 10)).map((due) => due.requestId)).toEqual(['P1']);
    // Opened again, nothing is queued twice (an answered one stays answered).
    await harness.closeAll();
    const again = await harness.store({ askDirectory: true });
    expect((await again.matches.due(harness.clock.iso(), 10)).map((due) => due.requestId)).toEqual(['P1']);
  });

  it("records a member: the match on the request, the auto reply queued as 'auto' and audited, the member id kept", async () => {
    await ingest(['A']);
    const before = await store.events.latestId();
    const at = harness.clock.iso();
    const recorded = await store.matches.record('A', { result: 'member', note: 'gold tier', memberId: 'M-42', reply: 'CRSUC' });
    expect(recorded).toMatchObject({ recorded: true, withheld: null, reply: { reply: { status: 'CRSUC', state: 'queued', requestedBy: 'auto' } } });
    const request = ConnectionRequest.parse(await store.requests.get('A'));
    expect(request.match).toEqual({ result: 'member', note: 'gold tier', at });
    expect(request.reply).toMatchObject({ status: 'CRSUC', requestedBy: 'auto' });
    expect(await store.matches.memberId('A')).toBe('M-42');
    expect((await store.events.after(before, 10)).map((event) => event.type)).toEqual(['reply.updated', 'request.updated']);
    expect((await store.audit.list({ limit: 10 })).items[0]).toMatchObject({
      actor: { keyId: null, name: 'auto' },
      action: 'reply.requested',
      target: 'A',
      details: { status: 'CRSUC' },
    });
    // Asked for the last time: nothing is due any more, and a late second answer changes nothing.
    expect(await store.matches.due(harness.clock.advance(MINUTE), 10)).toEqual([]);
    expect(await store.matches.record('A', { result: 'not_found', note: null, memberId: null, reply: 'CREU1' })).toEqual({ recorded: false });
    expect((await store.requests.get('A'))?.match?.result).toBe('member');
  });

  it("never answers a request a person answered: the person's reply stands, the directory's answer is still shown", async () => {
    await ingest(['A']);
    await store.replies.enqueue('A', 'CREU1', { actor: TESTER });
    expect(await store.matches.due(harness.clock.iso(), 10)).toMatchObject([{ requestId: 'A', stale: 'answered' }]);
    const recorded = await store.matches.record('A', { result: 'member', note: null, memberId: 'M-1', reply: 'CRSUC' });
    expect(recorded).toEqual({ recorded: true, reply: null, withheld: 'answered' });
    const request = await store.requests.get('A');
    expect(request?.reply).toMatchObject({ status: 'CREU1', requestedBy: 'tester' });
    expect(request?.match).toMatchObject({ result: 'member' });
    expect((await store.audit.list({ limit: 10 })).items.filter((line) => line.actor.name === 'auto')).toEqual([]);
  });

  it('withholds the reply for a request Concur no longer shows as pending', async () => {
    await ingest(['A']);
    await ingest(['A', { status: 'Connected' }]);
    expect(await store.matches.due(harness.clock.iso(), 10)).toMatchObject([{ requestId: 'A', stale: 'not_pending' }]);
    expect(await store.matches.record('A', { result: 'member', note: null, memberId: null, reply: 'CRSUC' })).toEqual({
      recorded: true,
      reply: null,
      withheld: 'not_pending',
    });
    expect((await store.requests.get('A'))?.reply).toBeNull();
  });

  it('asks again when told to, counting the calls, and survives a restart', async () => {
    await ingest(['A']);
    const retryAt = harness.clock.ms + 5_000;
    await store.matches.record('A', { result: 'unknown', note: 'the directory answered 500', memberId: null, retryAt, reply: null });
    expect((await store.requests.get('A'))?.match).toEqual({ result: 'unknown', note: 'the directory answered 500', at: harness.clock.iso() });
    expect(await store.matches.due(harness.clock.iso(), 10)).toEqual([]);
    expect(await store.matches.nextDueAt()).toBe(new Date(retryAt).toISOString());
    store = await harness.reopen();
    expect(await store.matches.due(harness.clock.advance(5_000), 10)).toMatchObject([{ requestId: 'A', attempts: 1 }]);
    await store.matches.record('A', { result: 'unknown', note: null, memberId: 'ignored', reply: null });
    expect(await store.matches.due(harness.clock.advance(MINUTE), 10)).toEqual([]);
    // Only a member's id is kept.
    expect(await store.matches.memberId('A')).toBeNull();
  });

  it('closes a request not worth asking about, without a match', async () => {
    await ingest(['A']);
    await store.replies.enqueue('A', 'CRRET', { actor: TESTER });
    await store.matches.close('A');
    expect(await store.matches.due(harness.clock.advance(MINUTE), 10)).toEqual([]);
    expect(await store.matches.nextDueAt()).toBeNull();
    expect((await store.requests.get('A'))?.match).toBeNull();
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

  it("keeps the member id on the connection the CRSUC's exchange makes, whoever asked for the CRSUC", async () => {
    await ingest(['A'], ['B']);
    const auto = await store.matches.record('A', { result: 'member', note: null, memberId: 'M-42', reply: 'CRSUC' });
    const replyId = auto.recorded && auto.reply !== null ? auto.reply.replyId : -1;
    await store.replies.markExchanging(replyId, harness.clock.iso());
    expect((await store.replies.markExchanged(replyId, tokens)).connection).toMatchObject({ requestId: 'A', memberId: 'M-42', connectedBy: 'auto' });
    // Under `connect` a person may connect a member the policy left alone: the member id still goes with it.
    await store.matches.record('B', { result: 'member', note: null, memberId: 'M-43', reply: null });
    const { replyId: byPerson } = await store.replies.enqueue('B', 'CRSUC', { actor: TESTER });
    await store.replies.markExchanging(byPerson, harness.clock.iso());
    expect((await store.replies.markExchanged(byPerson, tokens)).connection).toMatchObject({ memberId: 'M-43', connectedBy: 'tester' });
  });

  it('records a member while the exchange is unavailable, queuing nothing: it waits for a person', async () => {
    await ingest(['A']);
    await store.state.setExchangeStatus({ state: 'unavailable', reason: 'CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET are not set' });
    expect(await store.matches.record('A', { result: 'member', note: null, memberId: 'M-1', reply: 'CRSUC' })).toEqual({
      recorded: true,
      reply: null,
      withheld: 'exchange_unavailable',
    });
    expect(await store.requests.get('A')).toMatchObject({ reply: null, match: { result: 'member' } });
    expect(await store.matches.due(harness.clock.advance(MINUTE), 10)).toEqual([]);
  });

  it('claims what is due for one caller: not due again until its lease ends, or until its answer is recorded', async () => {
    await ingest(['A'], ['B'], ['C']);
    const now = harness.clock.iso();
    expect((await store.matches.claimDue(now, 2, MINUTE)).map((due) => due.requestId)).toEqual(['A', 'B']);
    // What is left is C; A and B are this caller's for a minute.
    expect((await store.matches.due(now, 10)).map((due) => due.requestId)).toEqual(['C']);
    expect((await store.matches.claimDue(now, 10, MINUTE)).map((due) => due.requestId)).toEqual(['C']);
    expect(await store.matches.claimDue(now, 10, MINUTE)).toEqual([]);
    expect(await store.matches.nextDueAt()).toBe(new Date(harness.clock.ms + MINUTE).toISOString());
    // A's answer settles it for good; B's asks again later; C's holder never came back.
    await store.matches.record('A', { result: 'member', note: null, memberId: 'M-1', reply: null });
    await store.matches.record('B', { result: 'unknown', note: null, memberId: null, retryAt: harness.clock.ms + 5 * MINUTE, reply: null });
    const lapsed = harness.clock.advance(MINUTE);
    expect(await store.matches.claimDue(lapsed, 10, MINUTE)).toMatchObject([{ requestId: 'C', attempts: 0 }]);
    await store.matches.close('C');
    expect(await store.matches.claimDue(harness.clock.advance(4 * MINUTE), 10, MINUTE)).toMatchObject([{ requestId: 'B', attempts: 1 }]);
  });

  it('a claim is held by the store that made it: a relay restarted on SQLite asks at once, another relay on PostgreSQL waits out the lease', async () => {
    await ingest(['A'], ['B']);
    const now = harness.clock.iso();
    expect((await store.matches.claimDue(now, 1, MINUTE)).map((due) => due.requestId)).toEqual(['A']);
    // SQLite: one relay per file, so the next store on it is that relay after a crash, and nobody holds A any more.
    // PostgreSQL: the next store is another relay, which must not ask about A while its claim lasts.
    const next = await harness.store({ askDirectory: true });
    const expected = { sqlite: ['A', 'B'], postgres: ['B'] }[database.kind];
    expect((await next.matches.claimDue(now, 10, MINUTE)).map((due) => due.requestId)).toEqual(expected);
  });
});

describe('matches on PostgreSQL, shared by several relays', () => {
  let harness: DatabaseHarness;
  let store: TestStore;
  beforeEach(async () => {
    harness = new DatabaseHarness(DATABASES.find((d) => d.kind === 'postgres')!);
    store = await harness.store({ askDirectory: true });
  });
  afterEach(() => harness.cleanup());

  const ingest = (...records: Parameters<typeof record>[]) =>
    store.requests.upsertFromConcur(records.map((args) => record(...args)), harness.clock.iso());

  it('two relays claiming at once share out what is due: each request claimed by exactly one', async () => {
    const other = await harness.store({ askDirectory: true });
    const ids = Array.from({ length: 12 }, (_, n) => `R${String(n).padStart(2, '0')}`);
    await ingest(...ids.map((id): Parameters<typeof record> => [id]));
    const now = harness.clock.iso();
    const claims = await Promise.all([store, other, store, other].map((relay) => relay.matches.claimDue(now, 4, MINUTE)));
    const claimed = claims.flat().map((due) => due.requestId);
    expect(claimed).toHaveLength(new Set(claimed).size);
    // Whatever the four claims left (a claim passes over rows another is locking) is still there for the next one.
    const rest = (await other.matches.claimDue(now, 12, MINUTE)).map((due) => due.requestId);
    expect([...claimed, ...rest].sort()).toEqual(ids);
  });
});
